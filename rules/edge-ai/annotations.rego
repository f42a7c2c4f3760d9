# Workload annotations: cost attribution (EGP006) and data classification (EGP007), read from
# the workload's own metadata.annotations (not the pod template's). The org in the keys comes
# from data.edgegate.org (default "edgegate.io").
package main

import rego.v1

# ---------------------------------------------------------------------------------------------
# EGP006 cost annotations present
# ---------------------------------------------------------------------------------------------

eg_cost_keys := [eg_cost_center_key, eg_project_id_key]

deny contains result if {
	eg_is_workload
	some key in eg_cost_keys
	not eg_has_annotation(key)
	result := eg_result(
		"EGP006", "medium", "Cost annotations",
		concat("", [eg_workload, ": metadata.annotations has no '", key, "' (cost attribution)"]),
		eg_existing_pointer(["metadata", "annotations", key]),
	)
}

# ---------------------------------------------------------------------------------------------
# EGP007 data-classification annotation present and allowed
# ---------------------------------------------------------------------------------------------

deny contains result if {
	eg_is_workload
	not eg_has_annotation(eg_classification_key)
	result := eg_result(
		"EGP007", "medium", "Data classification",
		concat("", [
			eg_workload, ": metadata.annotations has no '", eg_classification_key,
			"' (one of: ", concat(", ", eg_data_classifications), ")",
		]),
		eg_existing_pointer(["metadata", "annotations", eg_classification_key]),
	)
}

deny contains result if {
	eg_is_workload
	value := eg_annotation(input.metadata, eg_classification_key)
	not value in eg_data_classifications
	result := eg_result(
		"EGP007", "medium", "Data classification",
		concat("", [
			eg_workload, ": '", eg_classification_key, "' is '", value,
			"', not one of: ", concat(", ", eg_data_classifications),
		]),
		eg_existing_pointer(["metadata", "annotations", eg_classification_key]),
	)
}
