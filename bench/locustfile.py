"""Locust's side of the HTTP comparison: FastHttpUser, no think time, GET /."""

from locust import FastHttpUser, constant, task


class Static(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get("/")
