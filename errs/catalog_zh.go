package errs

// zhCN maps every message format the code uses to its zh-CN form.
var zhCN = map[string]string{}
