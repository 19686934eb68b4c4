"""A local stand-in for the Azure Functions host, driving the real Python SDKs.

Azure Functions Core Tools cannot be installed here, so this package plays the host's part for what
the app uses: HTTP triggers, Storage queue triggers and (through ``devstack.durable``) the Durable
extension. The app's ``function_app.py`` runs unchanged, called the way the Python worker calls it.
"""
