"""Build the HTML documentation site of georep.mars under build/docs/ ('make docs').

  1. antsibull-docs lint-collection-docs: DOCUMENTATION/EXAMPLES/RETURN and the roles'
     argument specs (schema, markup, references to this collection and its dependencies).
  2. antsibull-docs collection: one RST page per module, role, filter and test.
  3. A page per playbook, generated from the playbook itself (antsibull-docs has none): its
     header comment, the variables it takes, its plays, and its source.
  4. The operator guide: README.md and docs/*.md, read by Sphinx through myst-parser, and the
     release notes CHANGELOG.rst (copied into the build tree as they are: the repository keeps
     the only copy).
  5. sphinx-build -W -n: any warning fails the build.

Offline: references to the Ansible docsite (ansible.builtin plugins, 'common return values')
resolve through an intersphinx inventory written here, so nothing is fetched.

  tools/docs.py            build build/docs/html (prints the warnings, exits 1 on any)
  tools/docs.py --no-lint  skip step 1
"""

import argparse
import functools
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "docs"
SRC = OUT / "src"
COLLECTION = "georep.mars"

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"
# Labels of the Ansible docsite that antsibull-docs' pages refer to.
ANSIBLE_DOCSITE_LABELS = {
    "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
    "ansible_configuration_settings": ("reference_appendices/config.html", "Ansible Configuration Settings"),
}


# --------------------------------------------------------------------------- playbook pages

def rst_escape(text):
    return re.sub(r"([\\*`|_])", r"\\\1", text)


def rst_literal(text):
    return "``%s``" % text.replace("`", "'") if text.strip() else "``''``"


def header_comment(text):
    """(description paragraphs, usage lines) from the comment block at the top of a playbook.

    Comment lines indented after the '#' (as '#   -e handover_resource=NAME') are usage lines; the
    others are the description."""
    paragraphs, usage, current = [], [], []
    for line in text.splitlines():
        if line.strip() == "---" and not paragraphs and not current and not usage:
            continue
        if not line.startswith("#"):
            break
        body = line[1:]
        if body.startswith("  "):
            usage.append(body.strip())
        elif body.strip():
            current.append(body.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs, usage


def play_comments(text):
    """Comment blocks standing directly above a top-level '- name:' (a play), by play index."""
    comments, block, index = {}, [], -1
    for line in text.splitlines():
        if line.startswith("- "):
            index += 1
            if block and index > 0:
                comments[index] = " ".join(block)
            block = []
        elif line.startswith("#"):
            block.append(line[1:].strip())
        else:
            block = []
    return comments


def defined_in_playbook(plays):
    """Names the playbook sets itself (vars, register, set_fact, add_host), not the caller."""
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "vars" and isinstance(value, dict):
                    names.update(value)
                elif key == "register" and isinstance(value, str):
                    names.add(value)
                elif key in ("ansible.builtin.set_fact", "set_fact", "ansible.builtin.add_host", "add_host") \
                        and isinstance(value, dict):
                    names.update(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(plays)
    return names


DEFAULT_RE = re.compile(r"(?<![\w.\]'\"])([a-z_][a-z0-9_]*)\s*\|\s*default\(\s*((?:[^()]|\([^()]*\))*?)\s*\)")
EXTRA_VAR_RE = re.compile(r"-e\s+([a-z_][a-z0-9_]*)=")


def playbook_variables(text, plays, usage):
    """[(name, [defaults])] of the extra variables a caller may set besides those of the usage
    lines: the ones the playbook reads with a default and does not set itself (inventory
    variables mars_* are the roles' options, documented there)."""
    own = defined_in_playbook(plays)
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    defaults = {}
    for match in DEFAULT_RE.finditer(code):
        name, value = match.groups()
        if code[:match.start()].rstrip().endswith("|"):  # a filter, as in '| first | default(...)'
            continue
        if name in own or name.startswith(("mars_", "ansible_")) or name in ("item", "omit"):
            continue
        defaults.setdefault(name, [])
        if value not in defaults[name]:
            defaults[name].append(value)
    asked = {name for line in usage for name in EXTRA_VAR_RE.findall(line)}
    return [(name, defaults[name]) for name in sorted(defaults) if name not in asked]


def usage_commands(fqcn, usage):
    """Whole command lines from the usage lines: '-e a=1 -e b=2   (note)   or   -e c=3' gives
    one command per alternative, the note as a shell comment."""
    commands = []
    for line in usage or [""]:
        for chunk in re.split(r"\s{2,}", line):
            if chunk == "or":
                continue
            if chunk.startswith("or "):
                chunk = chunk[3:].strip()
            elif chunk.startswith("(") and chunk.endswith(")") and commands:
                commands[-1] += "  # " + chunk[1:-1]
                continue
            if not chunk.startswith("ansible-playbook"):
                chunk = ("ansible-playbook -i INVENTORY %s %s" % (fqcn, chunk)).rstrip()
            commands.append(chunk)
    return commands


class Links:
    """RST references to pages of this site (modules, roles) or, offline, the Ansible docsite."""

    def __init__(self, builtin):
        self.modules = {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__"}
        self.roles = {}  # role name: its documented entry points
        for spec in (ROOT / "roles").glob("*/meta/argument_specs.yml"):
            self.roles[spec.parent.parent.name] = set(yaml.safe_load(spec.read_text())["argument_specs"])
        self.builtin = builtin

    def module(self, fqcn):
        short = fqcn.split(".")[-1]
        if fqcn.startswith(COLLECTION + ".") and short in self.modules:
            return ":ref:`%s <ansible_collections.%s_module>`" % (fqcn, fqcn)
        if fqcn.startswith("ansible.builtin.") and "ansible_collections.%s_module" % fqcn in self.builtin:
            return ":ref:`%s <ansible_collections.%s_module>`" % (fqcn, fqcn)
        return rst_literal(fqcn)

    def role(self, name, entry_point=None):
        short = name.split(".")[-1]
        if not (name.startswith(COLLECTION + ".") and short in self.roles):
            return rst_literal(name) + (", " + rst_literal("tasks_from: " + entry_point) if entry_point else "")
        link = ":ref:`%s <ansible_collections.%s_role>`" % (name, name)
        if entry_point in self.roles[short]:
            link += ", :ref:`tasks_from: %s <ansible_collections.%s_role__entrypoint-%s>`" % (entry_point, name, entry_point)
        elif entry_point:
            link += ", " + rst_literal("tasks_from: " + entry_point)
        return link


@functools.lru_cache(maxsize=None)
def task_keywords():
    from ansible.playbook.task import Task
    return frozenset(Task.fattributes) | {"local_action"}


def task_action(task):
    """The module (or action) a task runs: its one key that is no task keyword."""
    for key in task:
        if key not in task_keywords() and not key.startswith("with_"):
            return key
    return None


def task_lines(tasks, links, depth=0):
    lines = []
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        name = rst_escape(task.get("name", "(unnamed)"))
        indent = "   " * depth
        if "block" in task:
            lines.append("%s- %s" % (indent, name))
            lines.append("")
            for part in ("block", "rescue", "always"):
                lines += task_lines(task.get(part), links, depth + 1)
            continue
        action = task_action(task)
        what = ""
        if action in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
            args = task[action] or {}
            what = "role " + links.role(args.get("name", "?"), args.get("tasks_from"))
        elif action:
            what = links.module(action)
        lines.append("%s- %s%s" % (indent, name, " (%s)" % what if what else ""))
    if lines:
        lines.append("")
    return lines


def playbook_page(path, links):
    text = path.read_text()
    plays = yaml.safe_load(text)
    paragraphs, usage = header_comment(text)
    if not paragraphs:
        raise SystemExit("%s: no header comment; start it with '# what the playbook does' and a "
                         "usage line '#   -e VAR=VALUE ...'" % path.relative_to(ROOT))
    name = path.stem
    fqcn = "%s.%s" % (COLLECTION, name)
    title = "%s playbook" % fqcn
    out = [".. _%s_playbook:" % fqcn.replace(".", "_"), "", title, "=" * len(title), ""]
    for paragraph in paragraphs:
        out += [rst_escape(paragraph), ""]

    out += ["Usage", "-----", "", ".. code-block:: shell", ""]
    out += ["   " + command for command in usage_commands(fqcn, usage)]
    out += [""]

    variables = playbook_variables(text, plays, usage)
    if variables:
        out += ["Other variables", "---------------", "",
                "Besides those of the usage line, the playbook reads these extra variables (``-e``); "
                "inventory variables are the options of the roles and modules it runs.", "",
                ".. list-table::", "   :header-rows: 1", "   :widths: 1 2", "",
                "   * - Variable", "     - Default"]
        for var, defaults in variables:
            unit = " (seconds)" if var.endswith(("_timeout", "_window")) else ""
            out += ["   * - " + rst_literal(var), "     - " + ", ".join(rst_literal(d) for d in defaults) + unit]
        out += [""]

    out += ["Plays", "-----", ""]
    comments = play_comments(text)
    for index, play in enumerate(plays, 1):
        heading = "%d. %s" % (index, play.get("name", "(unnamed play)"))
        out += [rst_escape(heading), "^" * len(rst_escape(heading)), ""]
        facts = ["hosts: " + rst_literal(str(play.get("hosts", "")))]
        for key in ("serial", "any_errors_fatal", "gather_facts"):
            if key in play:
                value = str(play[key]).lower() if isinstance(play[key], bool) else str(play[key])
                facts.append("%s: %s" % (key, rst_literal(value)))
        out += ["; ".join(facts), ""]
        if index - 1 in comments:
            out += [rst_escape(comments[index - 1]), ""]
        for role in play.get("roles") or []:
            role_name = role.get("role") if isinstance(role, dict) else role
            when = role.get("when") if isinstance(role, dict) else None
            out.append("- role %s%s" % (links.role(role_name), " when " + rst_literal(str(when)) if when else ""))
        if play.get("roles"):
            out.append("")
        for part in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            out += task_lines(play.get(part), links)

    source = os.path.relpath(path, SRC / "playbooks")
    out += ["Source", "------", "", ".. literalinclude:: %s" % source, "   :language: yaml+jinja", ""]
    return "\n".join(out), paragraphs[0]


def playbook_pages(links):
    pages = []
    (SRC / "playbooks").mkdir(parents=True)
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        page, summary = playbook_page(path, links)
        (SRC / "playbooks" / (path.stem + ".rst")).write_text(page)
        pages.append((path.stem, re.split(r"(?<=\.)\s", summary)[0]))
    out = [".. _georep_mars_playbooks:", "", "Playbooks", "=========", "",
           "The collection's playbooks, run as ``ansible-playbook -i INVENTORY georep.mars.NAME``. "
           "Each page is generated from the playbook itself.", "",
           ".. toctree::", "   :hidden:", ""]
    out += ["   %s" % name for name, unused_page in pages]
    out += ["", ".. list-table::", "   :header-rows: 1", "   :widths: 1 4", "",
            "   * - Playbook", "     - What it does"]
    for name, summary in pages:
        out += ["   * - :ref:`%s.%s <georep_mars_%s_playbook>`" % (COLLECTION, name, name),
                "     - " + rst_escape(summary)]
    (SRC / "playbooks" / "index.rst").write_text("\n".join(out) + "\n")


# --------------------------------------------------------------------------- site skeleton

def builtin_labels():
    """Labels of the ansible.builtin plugin pages on the Ansible docsite, from ansible-core."""
    import ansible
    base = Path(ansible.__file__).parent
    found = {}
    for path in (base / "modules").glob("*.py"):
        if path.stem != "__init__":
            found[(path.stem, "module")] = True
    for kind in ("filter", "test"):
        for path in (base / "plugins" / kind).glob("*.yml"):
            found[(path.stem, kind)] = True
    for kind in ("become", "cache", "callback", "connection", "inventory", "lookup", "shell", "strategy", "vars"):
        for path in (base / "plugins" / kind).glob("*.py"):
            if path.stem != "__init__":
                found[(path.stem, kind)] = True
    labels = {}
    for name, kind in found:
        label = "ansible_collections.ansible.builtin.%s_%s" % (name, kind)
        anchor = label.replace(".", "-").replace("_", "-")
        labels[label] = ("collections/ansible/builtin/%s_%s.html#%s" % (name, kind, anchor),
                         "ansible.builtin.%s %s" % (name, kind))
    return labels


def write_inventory(path, labels):
    """An intersphinx inventory (objects.inv, version 2) of the Ansible docsite pages we link."""
    header = ("# Sphinx inventory version 2\n# Project: Ansible\n# Version: latest\n"
              "# The remainder of this file is compressed using zlib.\n")
    body = "".join("%s std:label -1 %s %s\n" % (label, uri, title)
                   for label, (uri, title) in sorted(labels.items()))
    path.write_bytes(header.encode() + zlib.compress(body.encode()))


CONF = '''# Written by tools/docs.py; edit it there.
project = {project!r}
copyright = 'the georep.mars developers'
version = release = {version!r}
title = html_short_title = html_title = {project!r}

extensions = ['sphinx.ext.intersphinx', 'sphinx_antsibull_ext', 'myst_parser']
source_suffix = {{'.rst': 'restructuredtext', '.md': 'markdown'}}
pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
html_use_modindex = False
html_use_index = False
html_copy_source = False
html_theme_options = {{'collapse_navigation': False, 'topbar_links': {{}}, 'show_extranav': False,
                      'show_rtd_ethical_ads': False}}
templates_path = [{templates!r}]

# Offline: a local inventory stands for the Ansible docsite's (links still point there).
intersphinx_mapping = {{'ansible': ({ansible_docs!r}, {inventory!r})}}

myst_heading_anchors = 3
default_role = 'any'
nitpicky = True
'''

# The theme's header links to '/'; this one to the site's own start page, wherever it is served from.
EXTRABODY = """<a class="DocSite-nav" href="{{ pathto(root_doc) }}" style="padding-bottom: 30px;">
  <img class="DocSiteNav-logo" src="{{ pathto(ansible_logo_url, 1) }}" alt="{{ _('Ansible Logo') }}">
  <div class="DocSiteNav-title">{{ shorttitle | default('Documentation') }}</div>
</a>
"""

INDEX = '''{title}
{underline}

{description}

.. toctree::
   :maxdepth: 1
   :caption: Operator guide
   :glob:

   Overview <README>
   docs/operations
   docs/modules
   docs/*

.. toctree::
   :maxdepth: 1
   :caption: Reference

   Playbooks <playbooks/index>
   Modules, roles, filters and tests <reference/index>
   Release notes <CHANGELOG>
'''


def skeleton():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    labels = dict(builtin_labels())
    for label, (uri, title) in ANSIBLE_DOCSITE_LABELS.items():
        labels[label] = (uri + "#" + label.replace("_", "-"), title)
    write_inventory(OUT / "ansible.inv", labels)
    (OUT / "conf.py").write_text(CONF.format(project=COLLECTION, version=str(galaxy["version"]),
                                             ansible_docs=ANSIBLE_DOCS, inventory=str(OUT / "ansible.inv"),
                                             templates=str(OUT / "templates")))
    (OUT / "templates").mkdir()
    (OUT / "templates" / "extrabody.html").write_text(EXTRABODY)
    title = "%s %s" % (COLLECTION, galaxy["version"])
    (SRC / "index.rst").write_text(INDEX.format(title=title, underline="=" * len(title),
                                                description=rst_escape(" ".join(galaxy["description"].split()))))
    # The same layout as in the repository, so that the links between README.md and docs/*.md hold.
    shutil.copy2(ROOT / "README.md", SRC / "README.md")
    shutil.copy2(ROOT / "CHANGELOG.rst", SRC / "CHANGELOG.rst")
    (SRC / "docs").mkdir()
    for md in sorted((ROOT / "docs").glob("*.md")):
        shutil.copy2(md, SRC / "docs" / md.name)
    return labels


# --------------------------------------------------------------------------- the build

def run(step, argv, env, failed):
    """Run one step; anything it prints on stderr (or any output from the linter) is a warning."""
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    noise = proc.stderr.strip()
    if step == "lint" or proc.returncode != 0:
        noise = (proc.stdout.strip() + "\n" + noise).strip()
    print("docs: %-10s %5.1f s%s" % (step, time.monotonic() - start, "" if proc.returncode == 0 and not noise else
                                     "  FAILED (rc=%d)" % proc.returncode))
    if noise:
        print(noise)
    if proc.returncode != 0 or noise:
        failed.append(step)
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--no-lint", action="store_true", help="skip antsibull-docs lint-collection-docs")
    args = parser.parse_args()
    start = time.monotonic()

    missing = [name for name in ("antsibull_docs", "sphinx", "sphinx_ansible_theme", "myst_parser")
               if importlib.util.find_spec(name) is None]
    if missing:
        print("docs: %s missing from %s; run 'tools/bootstrap.sh venv' (requirements-dev.txt)"
              % (", ".join(missing), sys.executable))
        return 2
    bindir = Path(sys.executable).parent
    antsibull = str(bindir / "antsibull-docs") if (bindir / "antsibull-docs").exists() else "antsibull-docs"
    shutil.rmtree(OUT, ignore_errors=True)
    # antsibull-docs finds the collection through this link to the work tree (and nothing else:
    # a stale installed copy in ~/.ansible/collections cannot shadow it).
    link = OUT / "collections" / "ansible_collections" / "georep" / "mars"
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.relpath(ROOT, link.parent))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(OUT / "collections"),
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=str(bindir) + os.pathsep + os.environ.get("PATH", ""))
    (SRC / "reference").mkdir(parents=True)
    os.chmod(SRC / "reference", 0o755)  # antsibull-docs refuses a destination others may write to
    failed = []

    if not args.no_lint:
        run("lint", [antsibull, "lint-collection-docs", "--plugin-docs", "--validate-collection-refs=dependent",
                     "--disallow-unknown-collection-refs", "."], env, failed)
    run("reference", [antsibull, "collection", "--use-current", "--squash-hierarchy", "--fail-on-error",
                      "--dest-dir", str(SRC / "reference"), COLLECTION], env, failed)
    labels = skeleton()
    playbook_pages(Links(labels))
    ok = run("sphinx", [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-n",
                        "-c", str(OUT), "-d", str(OUT / "doctrees"), str(SRC), str(OUT / "html")], env, failed)
    if ok:
        pages = len(glob.glob(str(OUT / "html" / "**" / "*.html"), recursive=True))
        print("docs: %s (%d pages) in %.0f s" % ((OUT / "html" / "index.html").relative_to(ROOT), pages,
                                                 time.monotonic() - start))
    if failed:
        print("docs: FAILED in %s: each warning above must be fixed (Sphinx runs with -W)" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
