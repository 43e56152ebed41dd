"""The oracle for test/unit/{markers,specifiers,requirements}.test.ts.

Reads one JSON request from the file named by argv[1], answers JSON on
stdout. Every question is answered twice, by the two parsers pip users meet:
  - "modern": the standalone `packaging` (26.x here), which implements the
    current dependency-specifiers spec and is pydepot's reference;
  - "pip": pip's vendored `pip._vendor.packaging` (21.3 in pip 23.0 and 23.2),
    what those pips evaluate with.
Requirements files are parsed by pip's own `parse_requirements`.

Exceptions become strings ("error: <Type>: <first line>"), so that an
answer is always data and the test decides what a disagreement means.
Stdlib and the two packagings only; run with `python3 -I` (isolated).
"""
import json
import sys

import packaging
import packaging.markers as modern_markers
import packaging.requirements as modern_requirements
import packaging.specifiers as modern_specifiers
import pip
import pip._vendor.packaging as pip_packaging
import pip._vendor.packaging.markers as pip_markers
import pip._vendor.packaging.requirements as pip_requirements
import pip._vendor.packaging.specifiers as pip_specifiers
from packaging.utils import canonicalize_name

IMPLS = {
    "modern": (modern_markers, modern_requirements, modern_specifiers),
    "pip": (pip_markers, pip_requirements, pip_specifiers),
}


def error(e):
    lines = str(e).splitlines()
    return "error: %s: %s" % (type(e).__name__, lines[0] if lines else "")


def markers(impl, cases, envs):
    mod = IMPLS[impl][0]
    out = []
    for case in cases:
        try:
            m = mod.Marker(case["marker"])
        except Exception as e:  # noqa: BLE001 - any failure is an answer
            out.append({"parsed": False, "error": error(e)})
            continue
        results = {}
        for name, env in envs.items():
            extras = case.get("extras") or [""]
            try:
                # As pip decides a dependency: true if it holds for any one requested extra.
                results[name] = any(m.evaluate(dict(env, extra=e)) for e in extras)
            except Exception as e:  # noqa: BLE001
                results[name] = error(e)
        out.append({"parsed": True, "str": str(m), "results": results})
    return out


def requirements(impl, texts):
    mod = IMPLS[impl][1]
    out = []
    for text in texts:
        try:
            r = mod.Requirement(text)
        except Exception as e:  # noqa: BLE001
            out.append({"parsed": False, "error": error(e)})
            continue
        out.append({
            "parsed": True,
            "name": r.name,
            "extras": sorted({canonicalize_name(e) for e in r.extras}),
            "specifier": str(r.specifier),
            "url": r.url,
            "marker": None if r.marker is None else str(r.marker),
        })
    return out


def specifiers(impl, cases):
    mod = IMPLS[impl][2]
    out = []
    for case in cases:
        try:
            s = mod.SpecifierSet(case["set"])
        except Exception as e:  # noqa: BLE001
            out.append({"valid": False, "error": error(e)})
            continue
        answer = {"valid": True, "str": str(s)}
        # pip 23's SpecifierSet.contains with prereleases None, True, False.
        for key, pre in (("contains", None), ("containsPre", True), ("containsNoPre", False)):
            try:
                if impl == "modern" and pre is None:
                    # packaging 26 changed the default to accept a lone pre-release;
                    # the old meaning is contains(v, prereleases=bool(s.prereleases)).
                    answer[key] = s.contains(case["version"], prereleases=bool(s.prereleases))
                else:
                    answer[key] = s.contains(case["version"], prereleases=pre)
            except Exception as e:  # noqa: BLE001
                answer[key] = error(e)
        out.append(answer)
    return out


def filters(impl, cases):
    mod = IMPLS[impl][2]
    out = []
    for case in cases:
        try:
            out.append(list(mod.SpecifierSet(case["set"]).filter(case["versions"], prereleases=case.get("prereleases"))))
        except Exception as e:  # noqa: BLE001
            out.append(error(e))
    return out


def requirements_file(path):
    from pip._internal.network.session import PipSession
    from pip._internal.req.constructors import parse_req_from_line
    from pip._internal.req.req_file import parse_requirements

    out = []
    try:
        for p in parse_requirements(path, session=PipSession()):
            entry = {
                "requirement": p.requirement,
                "constraint": p.constraint,
                "editable": p.is_editable,
                "lineSource": p.line_source,
                "hashes": sorted(
                    "%s:%s" % (algo, d) for algo, ds in ((p.options or {}).get("hashes") or {}).items() for d in ds
                ),
            }
            try:
                parts = parse_req_from_line(p.requirement, p.line_source)
                req = parts.requirement
                entry["name"] = req.name
                entry["extras"] = sorted({canonicalize_name(e) for e in req.extras})
                entry["specifier"] = str(req.specifier)
                entry["marker"] = None if parts.markers is None else str(parts.markers)
            except Exception as e:  # noqa: BLE001
                entry["error"] = error(e)
            out.append(entry)
    except Exception as e:  # noqa: BLE001
        return {"error": error(e)}
    return {"requirements": out}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    answer = {
        "versions": {
            "python": sys.version.split()[0],
            "packaging": packaging.__version__,
            "pip": pip.__version__,
            "pipPackaging": pip_packaging.__version__,
        },
        "defaultEnvironment": modern_markers.default_environment(),
    }
    envs = dict(request.get("envs", {}))
    if request.get("withLocalEnvironment"):
        # This machine's own environment, as pip would evaluate markers here.
        envs["local"] = modern_markers.default_environment()
    for impl in IMPLS:
        answer[impl] = {
            "markers": markers(impl, request.get("markers", []), envs),
            "requirements": requirements(impl, request.get("requirements", [])),
            "specifiers": specifiers(impl, request.get("specifiers", [])),
            "filters": filters(impl, request.get("filters", [])),
        }
    if "requirementsFile" in request:
        answer["requirementsFile"] = requirements_file(request["requirementsFile"])
    json.dump(answer, sys.stdout)


main()
