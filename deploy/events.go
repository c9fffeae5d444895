package deploy

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
)

// JSONEvents returns an Options.Events function that writes each engine
// event to w as one line of JSON (the CLI's own event format, with secrets
// masked), for a machine to read. Errors from the event stream become
// {"error": "..."} lines.
func JSONEvents(w io.Writer) func(events.EngineEvent) {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(e events.EngineEvent) {
		mu.Lock()
		defer mu.Unlock()
		if e.Error != nil {
			_ = enc.Encode(map[string]string{"error": e.Error.Error()})
			return
		}
		_ = enc.Encode(e.EngineEvent)
	}
}
