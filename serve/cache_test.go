package serve

import (
	"fmt"
	"testing"

	"github.com/plinthml/plinth/model"
)

func TestPredictorCache(t *testing.T) {
	var c predictorCache
	ps := make([]*model.Predictor, predictorCacheSize+1)
	for i := range ps {
		ps[i] = &model.Predictor{}
	}
	for i := 0; i < predictorCacheSize; i++ {
		c.put(fmt.Sprint(i), ps[i])
	}
	if c.get("0") != ps[0] { // 0 is now the most recently used
		t.Fatal("cached predictor 0 not returned")
	}
	c.put("new", ps[predictorCacheSize]) // evicts 1, the least recently used
	if c.get("1") != nil {
		t.Error("least recently used entry survived eviction")
	}
	if c.get("0") != ps[0] || c.get("new") != ps[predictorCacheSize] {
		t.Error("recent entries evicted")
	}
	if len(c.entries) != predictorCacheSize || len(c.order) != predictorCacheSize {
		t.Errorf("cache holds %d entries, %d in order; want %d", len(c.entries), len(c.order), predictorCacheSize)
	}
}
