// The C++ counterpart of main.c, through suprsend.hpp: built by CMakeLists.txt when the installed
// tree has the header. Prints "libsuprsend X.Y.Z ok (C++)" and exits 0, or says what failed.
#include <exception>
#include <iostream>
#include <suprsend.hpp>

int main() {
    try {
        if (suprsend::version() != SUPRSEND_VERSION_STRING || suprsend::version_number() != SUPRSEND_VERSION_NUMBER) {
            std::cerr << "install check: header " << SUPRSEND_VERSION_STRING << ", library " << suprsend::version() << "\n";
            return 1;
        }
        suprsend::Options options("install-check-key", "install-check-secret");
        suprsend::Client client(options);
        std::cout << "libsuprsend " << suprsend::version() << " ok (C++)\n";
        return 0;
    } catch (const std::exception &e) {
        std::cerr << "install check: " << e.what() << "\n";
        return 1;
    }
}
