// A file with given contents under /tmp, named ...SUFFIX (the suffix may matter: saasctl
// tells CSV from NDJSON by it), removed when the object goes.
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace saasmetrics::testing {

class TempFile {
 public:
  TempFile(const std::string& suffix, const std::string& body) {
    char name[] = "/tmp/saasmetrics-test-XXXXXX";
    close(mkstemp(name));
    path_ = std::string(name) + suffix;
    rename(name, path_.c_str());
    std::ofstream(path_) << body;
  }
  ~TempFile() { unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace saasmetrics::testing
