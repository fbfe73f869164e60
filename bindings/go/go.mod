module libsuprsend/suprsend

go 1.19
