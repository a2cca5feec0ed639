# georep.mars: the two commands a new machine needs are 'make lab' and 'make test' (as root).
SHELL := /bin/bash
VENV := .venv
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
LABCTL := python3 lab/labctl.py

.PHONY: help deps lab lab-up lab-down site test unit sanity lint molecule labtest bench clean-lab changelog realmars docs ee soak soak-short

help:
	@echo "make lab    install what is missing, build the host image, start 3 lab hosts, run playbooks/site.yml"
	@echo "make test   install what is missing and run every test (unit, sanity, lint, molecule, lab)"
	@echo "make lab-down / clean-lab / unit / sanity / lint / molecule / labtest / bench"
	@echo "make soak   chaos soak on the lab (issue #16): SOAK_FAULTS=100 SOAK_SEED=1 SOAK_MINUTES=600 SOAK_PACE=1; report in soak/report.md"
	@echo "make soak-short  the same with 10 faults at half pace in at most 40 minutes; report in build/soak/short"
	@echo "make realmars  the collection on the real MARS module in qemu VMs (needs GEOREP_MARS_GIT)"
	@echo "make ee     the AWX execution environment image georep-mars-ee:latest (offline: EE_ARGS=..., see docs/awx.md)"
	@echo "make docs   the HTML docs site (modules, roles, plugins, playbooks, docs/*.md) in build/docs/html"

deps:
	@tools/bootstrap.sh all

lab: deps lab-up site
	@python3 tools/lab_summary.py

lab-up:
	@$(LABCTL) up

lab-down:
	@$(LABCTL) down

clean-lab:
	@$(LABCTL) cleanup

site:
	ansible-playbook -i inventories/lab playbooks/site.yml

test: deps
	@tools/run-tests.sh

unit:
	pytest -q tests/unit tests/emulator
	.venv-2.18/bin/python -m pytest -q --ignore=tests/unit/soak tests/unit

sanity:
	tools/sanity.sh

lint:
	tools/lint.sh

molecule:
	tools/molecule.sh default

labtest:
	pytest -q tests/lab

# The chaos soak (soak/README.md): faults, operator, checker; writes soak/report.md and soak/timeline.png.
SOAK_FAULTS ?= 100
SOAK_SEED ?= 1
SOAK_MINUTES ?= 600
SOAK_REPORT ?= soak
SOAK_PACE ?= 1
soak: deps lab-up site
	python3 -m soak run --faults $(SOAK_FAULTS) --seed $(SOAK_SEED) --max-minutes $(SOAK_MINUTES) --pace $(SOAK_PACE) --report-dir $(SOAK_REPORT)

# The short variant (10 faults, gaps and holds halved, at most 40 minutes), its report under build/.
soak-short:
	$(MAKE) soak SOAK_FAULTS=10 SOAK_MINUTES=40 SOAK_PACE=0.5 SOAK_REPORT=build/soak/short

# Every bench (each makes and removes a lab of its own), then bench/report.md with its plots.
BENCHES := noop_scaling fleet_scaling handover log_shipping
bench:
	@for b in $(BENCHES); do python3 bench/$$b.py || exit 1; done
	python3 bench/report.py

realmars:
	@tools/realmars.sh

ee:
	@tools/ee.sh build $(EE_ARGS)

changelog:
	antsibull-changelog lint

docs:
	python3 tools/docs.py
