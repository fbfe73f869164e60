// second_tu.cpp: a second translation unit including suprsend.hpp, linked into test_suprsend,
// so that the header is checked for one-definition problems (two definitions of an inline
// function link as one) and for a single error category across the program.
#include <suprsend.hpp>

const std::error_category *status_category_from_second_tu();

const std::error_category *status_category_from_second_tu() { return &suprsend::status_category(); }
