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

# The shipped default bundle (docs/training.md): five synthetic chunks of 100 images per class at
# fixed seeds (43 and 47 are skipped: the generator raised "No host for a Bridges defect" on them),
# then DenseNet121 from scratch at 96 px, light augmentation, within a 14-minute budget. Refuses to replace models/default.
DEFAULT_DATA ?= /data/synth-default
DEFAULT_SEEDS ?= 42 44 45 46 48
.PHONY: default-model
default-model: install
	@test ! -e models/default || { echo "models/default exists; bundles are never overwritten: move it away first."; exit 1; }
	for seed in $(DEFAULT_SEEDS); do test -f $(DEFAULT_DATA)/seed-$$seed/manifest.csv || \
	  $(BIN)/python -m sem_core synth --out $(DEFAULT_DATA)/seed-$$seed --per-class 100 --size 224 --seed $$seed --quiet || exit 1; done
	$(BIN)/python -m sem_core train --data $(addprefix $(DEFAULT_DATA)/seed-,$(DEFAULT_SEEDS)) --out models/default \
	  --image-size 96 --backbone densenet121 --weights none --epochs 60 --stage1-epochs 30 --batch-size 16 \
	  --patience 8 --seed 0 --max-minutes 14 --augment light
