"""The image app: settings, models, image API clients, blob persistence, blueprints."""
