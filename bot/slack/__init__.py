"""Everything that faces Slack: the Bolt app, its listeners, the one owner of user actions
(``intake``), Block Kit, cards and their budget, delivery of the MP4 into the thread.

The core (``bot.jobs``, ``bot.sora``, ``bot.store``, ``bot.emulator``, ``bot.media``) never
imports this package; ``scripts/check`` enforces it (import-linter).
"""
