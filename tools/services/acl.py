"""POSIX access ACLs on directories, read and written as the kernel stores them.

A private state directory (`mktemp -d`: mode 700, owned by root) must stay private and still let
the local servers' own users (postgres, mail) pass through it. One ACL entry, "user X may
traverse", does exactly that without opening the directory to anyone else. The `acl` package
(setfacl) is not installed on every machine, so the entries are read and written directly in
the `system.posix_acl_access` extended attribute (the layout of linux/posix_acl_xattr.h).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

XATTR = "system.posix_acl_access"
VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
NO_ID = 0xFFFFFFFF
TRAVERSE = 0o1


class AclUnsupported(OSError):
    """The file system keeps no ACLs here (or refuses them)."""


def entries(path: Path) -> list[tuple[int, int, int]]:
    """(tag, permissions, id) of the directory's access ACL; [] when it has none beyond its mode."""
    try:
        raw = os.getxattr(path, XATTR)
    except OSError as exc:
        if exc.errno in (61, 95):  # ENODATA: no ACL; EOPNOTSUPP: none possible
            return []
        raise
    if len(raw) < 4 or struct.unpack_from("<I", raw)[0] != VERSION:
        return []
    return [struct.unpack_from("<HHI", raw, offset) for offset in range(4, len(raw), 8)]


def user_may_traverse(path: Path, uid: int, gids: set[int]) -> bool | None:
    """What the ACL says about `uid` entering `path`: True/False when a named entry decides,
    None when the mode bits do (no ACL, or none naming this user or its groups)."""
    found = entries(path)
    if not found:
        return None
    mask = next((perm for tag, perm, _ in found if tag == MASK), 0o7)
    named = [perm for tag, perm, ident in found if tag == USER and ident == uid]
    if named:
        return bool(named[0] & mask & TRAVERSE)
    groups = [perm for tag, perm, ident in found if tag == GROUP and ident in gids]
    if groups:
        return any(perm & mask & TRAVERSE for perm in groups)
    return None


def grant_traverse(path: Path, uid: int) -> None:
    """Add "user `uid` may traverse `path`" to its ACL, keeping every other entry and the mode's
    meaning for owner, group and others."""
    mode = os.stat(path).st_mode
    kept = {(tag, ident): perm for tag, perm, ident in entries(path)}
    if not kept:  # the ACL that the mode bits stand for
        kept = {(USER_OBJ, NO_ID): (mode >> 6) & 7, (GROUP_OBJ, NO_ID): (mode >> 3) & 7, (OTHER, NO_ID): mode & 7}
    kept[(USER, uid)] = kept.get((USER, uid), 0) | TRAVERSE
    # The mask bounds named users and groups: it must let traverse through, and keep what the
    # group class had (the group owner's own permissions stay what they were).
    kept[(MASK, NO_ID)] = kept.get((MASK, NO_ID), 0) | TRAVERSE | kept.get((GROUP_OBJ, NO_ID), 0)
    data = struct.pack("<I", VERSION) + b"".join(
        struct.pack("<HHI", tag, perm, ident) for (tag, ident), perm in sorted(kept.items()))
    try:
        os.setxattr(path, XATTR, data)
    except OSError as exc:
        if exc.errno in (95, 22):  # EOPNOTSUPP, EINVAL
            raise AclUnsupported(exc.errno, f"{path}: this file system keeps no ACLs") from None
        raise
