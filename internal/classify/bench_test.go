package classify

import (
	"net/http"
	"strconv"
	"testing"
)

func BenchmarkClassifyLogBatch(b *testing.B) {
	c := newClassifier(b)
	h := http.Header{"Content-Type": {ctJSON}}
	body := []byte(`{"run_id": "9a1b2c3d4e5f", "metrics": [` +
		`{"key": "loss", "value": 0.51, "timestamp": 1700000000000, "step": 1},` +
		`{"key": "acc", "value": 0.82, "timestamp": 1700000000000, "step": 1},` +
		`{"key": "f1", "value": 0.77, "timestamp": 1700000000000, "step": 1}],` +
		`"params": [{"key": "lr", "value": "0.01"}], "tags": [{"key": "mlflow.user", "value": "alice"}]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := c.classify("POST", "/api/2.0/mlflow/runs/log-batch", "", h, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyLargeObject guards against quadratic key checks: one
// object with many keys and a long identifier list.
func BenchmarkClassifyLargeObject(b *testing.B) {
	c := newClassifier(b)
	h := http.Header{"Content-Type": {ctJSON}}
	var body []byte
	body = append(body, `{"experiment_ids": [`...)
	for i := range 20000 {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `"`+strconv.Itoa(i)+`"`...)
	}
	body = append(body, `], "x": {`...)
	for i := range 20000 {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `"k`+strconv.Itoa(i)+`": 1`...)
	}
	body = append(body, "}}"...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.classify("POST", "/api/2.0/mlflow/runs/search", "", h, body); err != nil {
			b.Fatal(err)
		}
	}
}
