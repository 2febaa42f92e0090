"""NameSilo's two reply formats: the same envelope as JSON (``type=json``) or XML (``type=xml``).

XML is the API's original format and what many clients speak (the ``python-namesilo`` package,
the Go client lego uses). NameSilo's documented XML maps the reply fields like this:

- a scalar is an element with its text (``<code>300</code>``);
- a mapping is an element with one child per key (``<contact_ids><registrant>1</registrant>...``);
- a list repeats one element per item, inside the list's element, named as the item is
  (``<nameservers><nameserver position="1">ns1.example.com</nameserver>...``): an item that is a
  mapping holding its own name as a key (``{"domain": ..., "price": ...}``) becomes that text
  with the other keys as attributes, as in checkRegisterAvailability's
  ``<available><domain price="13.95" ...>shop.com</domain></available>``.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

# A list field's item element; every list the stand-in answers holds domain names or nameservers.
ITEMS = {"available": "domain", "unavailable": "domain", "invalid": "domain", "domains": "domain",
         "nameservers": "nameserver"}
FORMATS = ("xml", "json")


def render(kind: str, envelope: dict[str, Any]) -> tuple[str, str]:
    """The body and its media type for one reply envelope (``{"request": ..., "reply": ...}``)."""
    if kind == "json":
        return json.dumps(envelope), "application/json"
    root = ElementTree.Element("namesilo")
    for key, value in envelope.items():
        _append(root, key, value)
    body = ElementTree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0"?>\n{body}', "text/xml"


def _append(parent: ElementTree.Element, name: str, value: Any) -> None:
    element = ElementTree.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _append(element, key, item)
    elif isinstance(value, list):
        item_name = ITEMS.get(name, "item")
        for item in value:
            if isinstance(item, dict) and item_name in item:
                child = ElementTree.SubElement(element, item_name)
                child.text = _text(item[item_name])
                for key, attribute in item.items():
                    if key != item_name:
                        child.set(key, _text(attribute))
            elif isinstance(item, dict):
                child = ElementTree.SubElement(element, item_name)
                for key, nested in item.items():
                    _append(child, key, nested)
            else:
                ElementTree.SubElement(element, item_name).text = _text(item)
    else:
        element.text = _text(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
