"""A simulated OCPP 1.6J charger fleet (the charge point side of the protocol).

``ev`` models the car and its battery, ``profiles`` the OCPP smart-charging
arithmetic, ``hardware`` the charger models and their configuration keys,
``charger`` one simulated charge point talking to a central system, and
``fleet`` many of them in one asyncio loop. Everything here is client side:
it only ever connects to the URL it is given.
"""
