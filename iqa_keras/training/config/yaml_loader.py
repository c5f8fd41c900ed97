"""How config files and overrides read YAML: `YamlLoader`.

Example:
>>> yaml.load("learning_rate: 1e-4", YamlLoader)
{'learning_rate': 0.0001}
"""

import re
import typing

import yaml

__all__ = ["YamlLoader"]


class YamlLoader(yaml.SafeLoader):
    """YAML's safe loader, reading `1e-4` as a float as JSON does (YAML 1.1 wants `1.0e-4`),
    and refusing a key given twice in one mapping (YAML would keep the last silently).
    Merge keys (`<<: *defaults`) are not keys of the mapping: the keys they bring may be
    given again, and the mapping's own win."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, typing.Hashable):
                continue  # refused by the base class
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice in one section", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
