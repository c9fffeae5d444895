package preflight

import (
	"errors"
	"sync"
)

// question is one call to Scaleway; err, once asked, says what was asked.
type question struct {
	what string
	ask  func() error
	err  error
}

// answered reports whether q was asked and answered without error.
func (q *question) answered() bool { return q != nil && q.err == nil }

// questions are the calls Check makes, in the order it reports their errors.
type questions []*question

// add records a question to ask; what describes it for its error.
func (qs *questions) add(what string, ask func() error) *question {
	q := &question{what: what, ask: ask}
	*qs = append(*qs, q)
	return q
}

// run asks every question at the same time and waits for all the answers.
func (qs questions) run() {
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Go(func() {
			if err := q.ask(); err != nil {
				q.err = apiError(q.what, err)
			}
		})
	}
	wg.Wait()
}

// unauthorized is the first error that is ErrUnauthorized, or nil.
func (qs questions) unauthorized() error {
	for _, q := range qs {
		if errors.Is(q.err, ErrUnauthorized) {
			return q.err
		}
	}
	return nil
}

// errs are the questions' errors, nil ones included.
func (qs questions) errs() []error {
	errs := make([]error, len(qs))
	for i, q := range qs {
		errs[i] = q.err
	}
	return errs
}
