"""Mobile-money providers behind one interface.

- `base`       the `MobileMoneyProvider` protocol, its answers, and the normalised `CallbackEvent`
- `parsing`    Daraja's JSON (callbacks and synchronous answers) turned into those types
- `daraja`     the real Daraja REST client
- `simulator/` a simulated M-Pesa, the default in development and tests
"""
