# georep.mars: the two commands a new machine needs are 'make lab' and 'make test' (as root).
SHELL := /bin/bash
VENV := .venv
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
LABCTL := python3 lab/labctl.py

.PHONY: help deps lab lab-up lab-down site test unit sanity lint molecule labtest bench clean-lab changelog realmars docs ee

help:
	@echo "make lab    install what is missing, build the host image, start 3 lab hosts, run playbooks/site.yml"
	@echo "make test   install what is missing and run every test (unit, sanity, lint, molecule, lab)"
	@echo "make lab-down / clean-lab / unit / sanity / lint / molecule / labtest / bench"
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
	.venv-2.18/bin/python -m pytest -q tests/unit

sanity:
	tools/sanity.sh

lint:
	tools/lint.sh

molecule:
	tools/molecule.sh default

labtest:
	pytest -q tests/lab

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
