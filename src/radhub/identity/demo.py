"""The demo identities ``radhub demo`` creates: a requesting site, a reading centre, the platform, one user per role."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from radhub.catalog._models import Share, Study
from radhub.identity._directory import Directory
from radhub.identity.errors import NotFound

__all__ = ["DEMO_READING", "DEMO_SITE", "create_demo_identities", "share_demo_studies"]

DEMO_SITE = "demo-site"
DEMO_READING = "demo-reading"
DEMO_PLATFORM = "platform"
DEMO_AES = ("STORESCU", "FINDSCU", "MOVESCU", "GETSCU", "ECHOSCU")

_ORGS = (
    (DEMO_PLATFORM, "radhub platform", "platform", None),
    (DEMO_SITE, "Demo County Hospital", "requesting", None),
    (DEMO_READING, "Demo Reading Centre", "reading", None),
)
_USERS = (
    ("tech", DEMO_SITE, "technologist", "", "CT,MR", ""),
    ("siteadmin", DEMO_SITE, "site_admin", "", "", ""),
    ("reader", DEMO_READING, "reader", "attending", "CT,MR", "chest,abdomen"),
    ("reviewer", DEMO_READING, "reviewer", "associate_chief", "CT,MR", "chest"),
    ("expert", DEMO_READING, "expert", "chief", "CT,MR", "neuro,chest,msk"),
    ("readingadmin", DEMO_READING, "site_admin", "", "", ""),
    ("admin", DEMO_PLATFORM, "platform_admin", "", "", ""),
)


def create_demo_identities(archive: Any) -> list[dict[str, str]]:
    """Create (or reset) the demo organisations and users; their new passwords, to print.

    The demo site owns the calling AE titles of dcmtk's and pynetdicom's
    tools (STORESCU, FINDSCU ...) and the C-MOVE destination STORESCP at
    127.0.0.1:11113, so that those tools work against the demo at once.
    """
    d: Directory = archive.directory
    for code, name, kind, parent in _ORGS:
        try:
            d.org(code)
        except NotFound:
            d.create_org(name, kind=kind, code=code, parent=parent)
    registered = d.ae_titles()
    site = d.org(DEMO_SITE)
    for ae in DEMO_AES:
        if ae not in registered:
            d.add_ae(site.pk, ae)
    d.add_destination(site.pk, "STORESCP", "127.0.0.1", 11113)
    out = []
    for username, org, role, title, licences, keywords in _USERS:
        password = secrets.token_urlsafe(12)
        try:
            d.user(username)
            d.set_password(username, password)
            d.set_disabled(username, False)
        except NotFound:
            d.create_user(org, username, password, roles=role, title=title, licences=licences, keywords=keywords)
        out.append({"username": username, "password": password, "org": org, "roles": role})
    return out


def share_demo_studies(archive: Any, days: float = 365) -> int:
    """Share every demo-site study with the demo reading centre (its readers then see them); how many new shares."""
    d: Directory = archive.directory
    site, reading = d.org(DEMO_SITE), d.org(DEMO_READING)
    with d.engine.connect() as conn:
        uids = list(conn.execute(select(Study.study_uid).where(Study.org_pk == site.pk)).scalars())
        shared = set(
            conn.execute(
                select(Study.study_uid).join(Share, Share.study_pk == Study.pk).where(Share.org_pk == reading.pk)
            ).scalars()
        )
    n = 0
    for uid in uids:
        if uid not in shared:
            d.share(uid, reading.pk, days=days, granted_by="demo")
            n += 1
    return n
