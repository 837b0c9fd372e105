# One-command setup: `make run` starts the app, `make test` runs the whole suite.
# Both create .venv and install requirements.txt on first use (and again when it changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: install run test clean-venv

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: install
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)

# The default bundle (docs/training.md): five synthetic chunks at fixed seeds (43 and 47 were
# skipped when each lost an image to a generator error; both render whole since synth-sem 1.2.0),
# then DenseNet121 from scratch at 96 px, light augmentation, within a 14-minute budget. Refuses
# to replace models/default. The variables scale it up on a bigger machine, e.g.
# `make default-model DEFAULT_PER_CLASS=2000 DEFAULT_MAX_MINUTES=0 DEFAULT_WEIGHTS=imagenet`
# (measurements in docs/attempts/learnability-2026-11-28.md say 4,000 images are far too few).
DEFAULT_DATA ?= /data/synth-default
DEFAULT_SEEDS ?= 42 44 45 46 48
DEFAULT_PER_CLASS ?= 100
DEFAULT_WEIGHTS ?= none
DEFAULT_MAX_MINUTES ?= 14
.PHONY: default-model
default-model: install
	@test ! -e models/default || { echo "models/default exists; bundles are never overwritten: move it away first."; exit 1; }
	for seed in $(DEFAULT_SEEDS); do test -f $(DEFAULT_DATA)/$(DEFAULT_PER_CLASS)/seed-$$seed/manifest.csv || \
	  $(BIN)/python -m sem_core synth --out $(DEFAULT_DATA)/$(DEFAULT_PER_CLASS)/seed-$$seed --per-class $(DEFAULT_PER_CLASS) \
	  --size 224 --seed $$seed --quiet || exit 1; done
	$(BIN)/python -m sem_core train --data $(addprefix $(DEFAULT_DATA)/$(DEFAULT_PER_CLASS)/seed-,$(DEFAULT_SEEDS)) \
	  --out models/default --image-size 96 --backbone densenet121 --weights $(DEFAULT_WEIGHTS) --epochs 60 \
	  --stage1-epochs 30 --batch-size 16 --patience 8 --seed 0 --max-minutes $(DEFAULT_MAX_MINUTES) --augment light
