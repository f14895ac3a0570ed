"""sora-slack: a Slack bot that turns conversations into Sora 2 videos."""

__version__ = "0.1.0"
