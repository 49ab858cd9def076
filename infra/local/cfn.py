"""template.yaml as CloudFormation would evaluate it, for the local stack (gateway.py, bootstrap.py).

The template is read with cfn-lint's loader (`cfnlint.decode`, in .venv), which knows the
short-form tags (`!Ref`, `!If`, ...) and reports a template that does not parse. On top of it,
only the intrinsics the local stack needs are evaluated: `Ref` (parameters, pseudo parameters,
`AWS::NoValue`), `Fn::If`, `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`,
`Fn::Select`, `Fn::Split` and a `Fn::Sub` of parameters (and of its own variables). Anything else (a `Fn::GetAtt`, a `Ref` to a resource) is left as it is:
what reads it decides what that means locally.

Parameters take their template default, unless set in the environment under their
SCREAMING_SNAKE_CASE name (`RequireApiKey` is `REQUIRE_API_KEY`, `ThrottleRateLimit` is
`THROTTLE_RATE_LIMIT`), as `RATE_LIMIT_STRICT=1000 make dev` already sets the application limiter;
an explicit override (a command line's `--parameter Name=Value`) wins over both. A value outside
the parameter's `AllowedValues` is refused, as CloudFormation refuses it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# What the local stack is called: the resources' name prefix (bootstrap.py's local names) and
# the name of the REST API bootstrap.py creates in the emulator for the usage plans and API keys.
STACK_NAME = "starter"
REST_API_NAME = "starter-api"
PSEUDO = {
    "AWS::StackName": STACK_NAME,
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = object()


class TemplateError(Exception):
    """The template cannot be evaluated as the local stack needs it."""


def load(path: Path | str = TEMPLATE) -> dict:
    """The template as plain data, read by cfn-lint's loader."""
    import cfnlint.decode  # .venv only: imported here so that the pure parts load without it

    template, errors = cfnlint.decode.decode(str(path))
    if errors or template is None:
        raise TemplateError("; ".join(str(e) for e in errors) or f"cannot read {path}")
    return template


def env_name(parameter: str) -> str:
    """RequireApiKey -> REQUIRE_API_KEY, FreePlanQuotaPerDay -> FREE_PLAN_QUOTA_PER_DAY."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter).upper()


class Stack:
    """A template with its parameter values: evaluates intrinsics and conditions."""

    def __init__(
        self,
        template: Mapping,
        overrides: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self.template = template
        environ = os.environ if environ is None else environ
        overrides = dict(overrides or {})
        declared = template.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"no such parameter in the template: {', '.join(unknown)}")
        self.params: dict[str, str] = {}
        self.sources: dict[str, str] = {}
        for name, spec in declared.items():
            if name in overrides:
                value, source = str(overrides[name]), "command line"
            elif environ.get(env_name(name)):
                value, source = str(environ[env_name(name)]), env_name(name)
            elif "Default" in spec:
                value, source = scalar(spec["Default"]), "default"
            else:
                continue
            allowed = spec.get("AllowedValues")
            if allowed is not None and value not in [scalar(a) for a in allowed]:
                raise TemplateError(
                    f"{name}={value!r} (from {source}) is not one of its AllowedValues "
                    f"{[scalar(a) for a in allowed]}"
                )
            self.params[name] = value
            self.sources[name] = source
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.template.get("Conditions") or {}).get(name)
            if spec is None:
                raise TemplateError(f"no such condition: {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        """The value with the supported intrinsics evaluated; `Fn::If` to `AWS::NoValue` drops
        the key (or list item) that holds it."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                if arg in self.params:
                    return self.params[arg]
                if arg in PSEUDO:
                    return PSEUDO[arg]
                return value  # a resource: the caller decides
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition(name) else otherwise)
            if key == "Fn::Equals":
                left, right = (scalar(self.resolve(a)) for a in arg)
                return left == right
            if key == "Fn::Not":
                return not truthy(self.resolve(arg[0]))
            if key == "Fn::And":
                return all(truthy(self.resolve(a)) for a in arg)
            if key == "Fn::Or":
                return any(truthy(self.resolve(a)) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Split":
                delimiter, text = arg
                text = self.resolve(text)
                return text.split(delimiter) if isinstance(text, str) else value
            if key == "Fn::Select":
                index, items = arg
                items = self.resolve(items)
                if not isinstance(items, list):
                    return value
                try:
                    return items[int(self.resolve(index))]
                except (IndexError, ValueError) as err:
                    raise TemplateError(f"Fn::Select {index} of {items}: {err}") from err
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                variables = {k: self.resolve(v) for k, v in (variables or {}).items()}
                if not all(isinstance(v, str) for v in variables.values()):
                    return value  # a variable names a resource: the caller decides
                try:
                    return self.sub(text, variables)
                except TemplateError:
                    return value  # it names a resource: the caller decides
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def sub(self, text: str, variables: Mapping[str, str] | None = None) -> str:
        """`Fn::Sub` of its variables, parameters and pseudo parameters (`${Name}`;
        `${!Literal}` stays)."""
        variables = variables or {}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return variables[name]
            if name in self.params:
                return self.params[name]
            if name in PSEUDO:
                return PSEUDO[name]
            raise TemplateError(f"cannot substitute ${{{name}}} locally in {text!r}")

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resources(self, kind: str) -> dict[str, dict]:
        """Every resource of that type whose Condition holds: logical id -> resource."""
        out = {}
        for logical_id, resource in (self.template.get("Resources") or {}).items():
            if resource.get("Type") != kind:
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[logical_id] = resource
        return out


def scalar(value: Any) -> str:
    """A parameter value as CloudFormation passes it: a string (true -> "true", 10 -> "10")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)
