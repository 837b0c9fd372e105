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

# The default bundle (docs/default-model.md, its model card): fixed-seed `standard` synthetic data
# (review close-ups, the generator's current version) with a clean twin beside every training
# defect image, stage 2 from the offline ImageNet weights of EfficientNet-Lite0 (pip-installed,
# no network) and stage 1 from stage 2's trained backbone, at 224 px, the whole backbone
# fine-tuned after one epoch on the head alone, within a wall-time budget. Refuses to replace an existing bundle. The variables scale it
# on a bigger machine, e.g.
# `make default-model DEFAULT_PER_CLASS=1000 DEFAULT_MAX_MINUTES=0 DEFAULT_OUT=runs/models/big`.
DEFAULT_DATA ?= data/synth-twins
DEFAULT_SEEDS ?= 42 44 45 46
DEFAULT_PER_CLASS ?= 200
DEFAULT_OUT ?= models/default
DEFAULT_SIZE ?= 224
DEFAULT_BACKBONE ?= efficientnet_lite0
DEFAULT_STAGE1 ?= efficientnet_lite0
DEFAULT_WEIGHTS ?= imagenet
DEFAULT_MAX_MINUTES ?= 50
DEFAULT_EPOCHS ?= 6
DEFAULT_STAGE1_EPOCHS ?= 6
DEFAULT_FROZEN_FRACTION ?= 0.15
# Data go to DEFAULT_DATA/<generator version>/...: data of an older generator is never reused.
.PHONY: default-model
default-model: install
	@test ! -e $(DEFAULT_OUT) || { echo "$(DEFAULT_OUT) exists; bundles are never overwritten: move it away first."; exit 1; }
	version=$$($(BIN)/python -c "from sem_core.data.synth.config import GENERATOR_VERSION as v; print(v.split()[-1])") && \
	root=$(DEFAULT_DATA)/$$version/$(DEFAULT_PER_CLASS) && \
	for seed in $(DEFAULT_SEEDS); do test -f $$root/seed-$$seed/manifest.csv || \
	  $(BIN)/python -m sem_core synth --out $$root/seed-$$seed --per-class $(DEFAULT_PER_CLASS) \
	  --size 224 --seed $$seed --difficulty standard --clean-twins --quiet || exit 1; done && \
	$(BIN)/python -m sem_core train --data $(addprefix $$root/seed-,$(DEFAULT_SEEDS)) \
	  --out $(DEFAULT_OUT) --image-size $(DEFAULT_SIZE) --backbone $(DEFAULT_BACKBONE) \
	  --stage1-backbone $(DEFAULT_STAGE1) --weights $(DEFAULT_WEIGHTS) --epochs $(DEFAULT_EPOCHS) \
	  --stage1-epochs $(DEFAULT_STAGE1_EPOCHS) --frozen-fraction $(DEFAULT_FROZEN_FRACTION) \
	  --frozen-learning-rate 1e-3 --finetune-learning-rate 1e-4 --finetune-layers all \
	  --batch-size 16 --patience 8 --seed 0 --stage1-from-stage2 \
	  --max-minutes $(DEFAULT_MAX_MINUTES) --augment light
