# Browser tests (tests/browser/): playwright-core from the npm registry drives
# Debian's /usr/bin/chromium (package chromium, in DEPS_PKGS); no browser is
# ever downloaded. node_modules is installed only when it is missing.

BROWSER_TEST_DIR := tests/browser

.PHONY: browser-deps browser-test

browser-deps:
	@if [ ! -d $(BROWSER_TEST_DIR)/node_modules ]; then \
	  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1; \
	  if [ -f $(BROWSER_TEST_DIR)/package-lock.json ]; then \
	    npm ci --prefix $(BROWSER_TEST_DIR) --no-audit --no-fund; \
	  else \
	    npm install --prefix $(BROWSER_TEST_DIR) --no-audit --no-fund; \
	  fi; \
	fi

TEST_DEPS += browser-deps

# Just the browser suite: make browser-test
browser-test: browser-deps $(BUILD)/fastwsd
	BUILD=$(BUILD) bash tests/suites.d/browser.sh
