"""What every area shares and no area owns: sealing secrets (Fernet, `crypto`), hashing
passwords (argon2id, `passwords`), one-time codes of a second factor (TOTP, `totp`), the one shape of "the
request is refused" (`refusals`) and the login throttle every login, reset and code form goes through
(`throttle`).
Imports no other area.

`PUBLIC` names the modules other areas and the web, jobs and CLI layers may import
(tests/unit/test_layers.py holds them to it); this file imports nothing, so no cycle can start here.
"""

PUBLIC = ("crypto", "passwords", "refusals", "throttle", "totp")
