"""The video sizes and lengths Sora offers: plain constants with no imports, so the command
line can show them without loading the client (``sora-bot healthcheck`` runs often)."""

PORTRAIT, LANDSCAPE = "720x1280", "1280x720"  # the two sizes every deployment offers
STANDARD_SIZES = (PORTRAIT, LANDSCAPE)
PRO_SIZES = ("1024x1792", "1792x1024")
SIZES = STANDARD_SIZES + PRO_SIZES
SECONDS = (4, 8, 12)
DEFAULT_SIZE = PORTRAIT
DEFAULT_SECONDS = 4
