"""What stands in for Azure on one machine: local Functions host, Durable engine, emulator, Azurite.

Dev/test code only. The app in ``shared/`` never imports from here.
"""
