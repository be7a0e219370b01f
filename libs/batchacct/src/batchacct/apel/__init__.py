"""APEL output: text messages (apel-facts §2.2), a strict reader of them, and the SSM outgoing queue.

- `messages`: rows (dicts keyed by our column names) → `Message` objects, batched;
- `reader`: a message's text → typed records, enforcing the APEL server's rules;
- `outgoing`: messages → a dirq QueueSimple directory that a stock ``ssmsend`` sends (§4).
"""
