"""The image app: settings, models, image API clients, blob persistence, blueprints."""

from shared.logs import quiet_request_loggers

# Before any worker code runs: no library logs a signed URL at INFO (see shared/logs.py). Only
# logger levels change here — no I/O, no settings.
quiet_request_loggers()
