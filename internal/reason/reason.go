// Package reason holds the reject reasons that more than one of the leaf
// packages detects, readers and sink, which may not import each other. It
// owns only their spelling; each reason's meaning is documented where it is
// exported (readers.ReasonInvalidValue, sink.ReasonInvalidValue), and every
// other reason is defined in the one package that detects it. It must not
// know about rows, messages or files.
package reason

// InvalidValue is a value that cannot become what it is meant to be: it
// does not convert to the type its mapping declares, or JSON cannot hold it
// (NaN, ±Inf, a Parquet map with a null key, raw JSON that does not parse).
const InvalidValue = "invalid_value"
