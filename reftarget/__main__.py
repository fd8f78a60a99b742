"""`python -m reftarget --port 8080`: serve the reference target on loopback."""

import argparse

import uvicorn

from reftarget.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="chaosfleet reference target")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
