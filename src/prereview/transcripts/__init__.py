"""Reading a review's sealed Inspect logs (transcripts): list them, open them in Inspect View for
as long as an allowed principal looks at them, and move them sealed between cleared hosts.

    catalog   which sealed logs a review has, with their tasks, samples and scores (no plaintext)
    viewer    a private plaintext window + Inspect View behind a token, closed on withdrawal
    server    the Inspect View child process (loopback only, token gate)
    bundle    export sealed to another host's X25519 key; import re-sealed under this vault
"""
