# The API documentation pages and their assets, built into the binary (see the
# Makefile's EMBED). The pages are ours (web/*.html); the Swagger UI and ReDoc
# files come from the npm packages pinned in web/package-lock.json, fetched by
# web/fetch-assets.sh into $(BUILD)/assets/ (npm ci under $(BUILD)/web, run
# only when the pins change). src/docs.c lists the same asset names.

# Included before the Makefile's first rule: the rules below must not become
# the default goal (restored at the end of this file).
web_saved_goal := $(.DEFAULT_GOAL)

WEB_ASSETS := swagger-ui.css swagger-ui-bundle.js favicon-32x32.png redoc.standalone.js
WEB_ASSET_FILES := $(addprefix $(BUILD)/assets/,$(WEB_ASSETS))
WEB_STAMP := $(BUILD)/assets/.fetched

EMBED += swagger.html=web/swagger.html redoc.html=web/redoc.html \
         $(foreach a,$(WEB_ASSETS),$(a)=$(BUILD)/assets/$(a))

# One run of fetch-assets.sh makes every asset. The stamp is touched before the
# run, so the assets it writes are newer than the stamp; it is removed again if
# the run fails.
$(WEB_STAMP): web/fetch-assets.sh web/package.json web/package-lock.json web/.npmrc
	@mkdir -p $(@D) && touch $@
	@web/fetch-assets.sh $(BUILD) || { rm -f $@; exit 1; }

# An asset deleted since the last run is fetched again.
$(WEB_ASSET_FILES): $(WEB_STAMP)
	@test -f $@ || web/fetch-assets.sh $(BUILD)

.DEFAULT_GOAL := $(web_saved_goal)
