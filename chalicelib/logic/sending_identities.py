"""Which SES sending identities a workspace may register (issue 11 point 3, R8).

A registered identity decides which workspace a bounce or complaint lands in. A domain that anyone
can send from — a freemail domain (``gmail.com``) or a public suffix (``com``, ``co.uk``,
``github.io``) — would let one workspace collect, and suppress, everybody's feedback, so those are
refused; an address at such a domain (``alice@gmail.com``) names one mailbox and is allowed.

Data tables (in the repository, loaded on first use):
- ``chalicelib/data/public_suffix_list.dat``: the Public Suffix List (https://publicsuffix.org/list/,
  MPL 2.0; copied unchanged from Debian's ``publicsuffix`` package 20230209.2326-1), ICANN and
  private sections, rules, wildcards and exceptions as the list's own algorithm defines them;
- ``chalicelib/data/freemail_domains.txt``: free mailbox providers' domains (its header says where
  they come from), plus ``<label>.*`` lines for a provider under any public suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class _SuffixRules:
    exact: frozenset[str]
    wildcard: frozenset[str]  # "*.ck" stored as "ck"
    exceptions: frozenset[str]  # "!www.ck" stored as "www.ck"


def _ascii(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


@lru_cache(maxsize=1)
def _suffix_rules() -> _SuffixRules:
    exact: set[str] = set()
    wildcard: set[str] = set()
    exceptions: set[str] = set()
    for line in (DATA / "public_suffix_list.dat").read_text(encoding="utf-8").splitlines():
        rule = line.strip().split(" ", 1)[0].lower()
        if not rule or rule.startswith("//"):
            continue
        if rule.startswith("!"):
            exceptions.add(_ascii(rule[1:]))
        elif rule.startswith("*."):
            wildcard.add(_ascii(rule[2:]))
        else:
            exact.add(_ascii(rule))
    return _SuffixRules(frozenset(exact), frozenset(wildcard), frozenset(exceptions))


@lru_cache(maxsize=1)
def _freemail() -> tuple[frozenset[str], frozenset[str]]:
    """(exact domains, provider labels of ``<label>.*`` lines)."""
    exact: set[str] = set()
    labels: set[str] = set()
    for line in (DATA / "freemail_domains.txt").read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip().lower()
        if entry.endswith(".*"):
            labels.add(entry[:-2])
        elif entry:
            exact.add(entry)
    return frozenset(exact), frozenset(labels)


def is_public_suffix(domain: str) -> bool:
    """True for a domain under which anyone may register names (``com``, ``co.uk``, ``github.io``);
    also for any single label, listed or not (the list's implicit ``*`` rule)."""
    domain = _ascii(domain.strip(".").lower())
    rules = _suffix_rules()
    if domain in rules.exceptions:
        return False
    if "." not in domain or domain in rules.exact:
        return True
    return domain.split(".", 1)[1] in rules.wildcard


def registrable_domain(domain: str) -> str | None:
    """The public suffix plus one label (``mail.example.co.uk`` -> ``example.co.uk``); None for a suffix."""
    labels = _ascii(domain.strip(".").lower()).split(".")
    for start in range(len(labels) - 1):
        if is_public_suffix(".".join(labels[start + 1 :])) and not is_public_suffix(".".join(labels[start:])):
            return ".".join(labels[start:])
    return None


def is_freemail(domain: str) -> bool:
    """A free mailbox provider's domain or a subdomain of one (``gmail.com``, ``yahoo.co.nz``)."""
    domain = _ascii(domain.strip(".").lower())
    exact, labels = _freemail()
    parts = domain.split(".")
    if any(".".join(parts[i:]) in exact for i in range(len(parts))):
        return True
    registrable = registrable_domain(domain)
    return registrable is not None and registrable.split(".", 1)[0] in labels


def identity_domain(identity: str) -> tuple[str, bool]:
    """(domain, is_address) of an identity: a domain, an address, or an SES identity ARN of either."""
    name = identity.rsplit(":identity/", 1)[1] if identity.startswith("arn:") and ":identity/" in identity else identity
    if "@" in name:
        return name.rsplit("@", 1)[1].lower(), True
    return name.lower(), False


def identity_refusal(identity: str) -> str | None:
    """Why a workspace may not register ``identity`` (None: it may)."""
    if identity.startswith("arn:") and ":identity/" not in identity:
        return "an SES identity ARN (arn:aws:ses:<region>:<account>:identity/<domain or address>)"
    domain, is_address = identity_domain(identity)
    if not domain or is_public_suffix(domain):
        return "a public suffix (anyone can register names under it)" if domain else "no domain"
    if is_address:
        return None  # one mailbox, verified by its owner in SES
    if is_freemail(domain):
        return "a free mail provider's domain (anyone can send from it)"
    return None
