# Container images: pinned by digest (EGP001), from an allowed registry (EGP002).
package main

import rego.v1

# ---------------------------------------------------------------------------------------------
# EGP001 image pinned by digest
# ---------------------------------------------------------------------------------------------

eg_digest_pattern := `@(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`

eg_pin_hint := "pin it by digest (name@sha256:<digest>)"

# Negate a function of a bound value: `not is_string(entry.container.image)` is undefined, not
# true, under OPA when the image is missing (the undefined argument is hoisted out of `not`).
eg_has_image(entry) if is_string(entry.container.image)

deny contains result if {
	some entry in eg_containers
	not eg_has_image(entry)
	result := eg_result(
		"EGP001", "high", "Image pinned by digest",
		concat("", [eg_workload, ": ", entry.label, " has no image; it cannot be checked"]),
		entry.path,
	)
}

deny contains result if {
	some entry in eg_containers
	image := entry.container.image
	is_string(image)
	not regex.match(eg_digest_pattern, image)
	problem := eg_image_problem(image)
	result := eg_result(
		"EGP001", "high", "Image pinned by digest",
		concat("", [eg_workload, ": ", entry.label, " image '", image, "' ", problem, "; ", eg_pin_hint]),
		concat("", [entry.path, "/image"]),
	)
}

eg_image_problem(image) := "has a malformed digest (expected sha256 with 64 hex digits or sha512 with 128)" if {
	contains(image, "@")
} else := "uses the mutable tag ':latest'" if {
	eg_image_tag(image) == "latest"
} else := concat("", ["is pinned only by the tag ':", tag, "', which can be moved"]) if {
	tag := eg_image_tag(image)
} else := "has no tag or digest (it resolves to ':latest')"

# The tag of an image reference without a digest: the part after ':' in the last path
# component ("registry:5000/app:1.2" -> "1.2"; "registry:5000/app" -> undefined).
eg_image_tag(image) := tag if {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	pieces := split(last, ":")
	tag := pieces[count(pieces) - 1]
}

# ---------------------------------------------------------------------------------------------
# EGP002 images only from allowed registries
# ---------------------------------------------------------------------------------------------

deny contains result if {
	count(eg_allowed_registries) > 0
	some entry in eg_containers
	image := entry.container.image
	is_string(image)
	not eg_registry_allowed(image)
	registry := eg_image_registry(image)
	result := eg_result(
		"EGP002", "high", "Image from an allowed registry",
		concat("", [
			eg_workload, ": ", entry.label, " image '", image, "' is from registry '", registry,
			"', which is not an allowed registry (", concat(", ", eg_allowed_registries), ")",
		]),
		concat("", [entry.path, "/image"]),
	)
}

eg_registry_allowed(image) if {
	full := eg_full_image(image)
	some allowed in eg_allowed_registries
	is_string(allowed)
	prefix := eg_normalize_allowed(allowed)
	prefix != ""
	startswith(full, concat("", [prefix, "/"]))
}

# A first path component names a registry host when it has a '.' or ':' or is "localhost";
# otherwise the image is on Docker Hub ("python" -> "docker.io/library/python").
eg_registry_host(first) if contains(first, ".")

eg_registry_host(first) if contains(first, ":")

eg_registry_host("localhost")

eg_docker_hub_aliases := {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

eg_normalize_host(host) := "docker.io" if {
	lower(host) in eg_docker_hub_aliases
} else := lower(host)

eg_full_image(image) := full if {
	parts := split(image, "/")
	count(parts) > 1
	first := parts[0]
	eg_registry_host(first)
	rest := trim_prefix(image, concat("", [first, "/"]))
	full := concat("/", [eg_normalize_host(first), rest])
} else := full if {
	contains(image, "/")
	full := concat("/", ["docker.io", image])
} else := concat("/", ["docker.io/library", image])

eg_image_registry(image) := registry if {
	full := eg_full_image(image)
	parts := split(full, "/")
	registry := parts[0]
}

# "registry.example.com", "registry.example.com/team" or "docker.io/library" (trailing '/'
# ignored, host compared case-insensitively).
eg_normalize_allowed(allowed) := normalized if {
	trimmed := trim_suffix(trim_space(allowed), "/")
	parts := split(trimmed, "/")
	first := parts[0]
	rest := trim_prefix(trimmed, first)
	normalized := concat("", [eg_normalize_host(first), rest])
}
