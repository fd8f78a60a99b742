"""The ground floor: settings, fleet config, errors, durations, YAML loading and the
shared enums. It imports nothing else from the project, so every layer can use it."""
