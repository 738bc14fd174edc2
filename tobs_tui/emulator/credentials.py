"""The emulator's demo account, in one place: the api id and hash any client may use against it, the phone
and login code the login screen shows, and the second account that has a 2FA password."""

DEMO_API_ID = 1
DEMO_API_HASH = "00000000000000000000000000000000"
DEMO_PHONE = "+15550100"
DEMO_CODE = "12345"
TWOFA_PHONE = "+15550199"
TWOFA_PASSWORD = "tobs-demo-2fa"
