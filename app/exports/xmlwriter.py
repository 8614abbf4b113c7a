"""A small XML builder: elements in, well-formed indented text out, with namespaces declared exactly where set.

ElementTree picks prefixes itself (`ns0:alert`); CAP consumers look for `<alert xmlns="urn:oasis:…">`, also
inside an Atom entry, so the namespace declarations are written as plain attributes here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

# Characters XML 1.0 cannot carry at all, even escaped; a gazetteer name with one must not break the document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
INDENT = "  "


@dataclass
class Element:
    """An element with attributes and either text or child elements."""

    tag: str
    text: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element] = field(default_factory=list)

    def add(self, tag: str, text: str | None = None, **attrs: str) -> Element:
        """Append a child element and return it."""
        child = Element(tag, text, attrs)
        self.children.append(child)
        return child

    def append(self, child: Element) -> Element:
        """Append a built element and return it."""
        self.children.append(child)
        return child


def clean(text: str) -> str:
    """Text without the characters XML 1.0 forbids."""
    return _NOT_XML.sub("", text)


def to_xml(root: Element) -> str:
    """The document: an XML declaration, then the element tree, indented."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + "\n".join(lines(root)) + "\n"


def lines(element: Element, depth: int = 0) -> list[str]:
    """The element as indented lines (text-only elements stay on one line)."""
    pad = INDENT * depth
    attrs = "".join(f" {name}={quoteattr(clean(value))}" for name, value in element.attrs.items())
    if element.children:
        inner = [line for child in element.children for line in lines(child, depth + 1)]
        return [f"{pad}<{element.tag}{attrs}>", *inner, f"{pad}</{element.tag}>"]
    if element.text is None:
        return [f"{pad}<{element.tag}{attrs}/>"]
    return [f"{pad}<{element.tag}{attrs}>{escape(clean(element.text))}</{element.tag}>"]
