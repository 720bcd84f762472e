# cmake -DSRC_DIR=... -DOUT=... -P embed_migrations.cmake
cmake_minimum_required(VERSION 3.25)
# Writes a C++ file defining EmbeddedMigrations() from SRC_DIR/NNNN_name.sql.
file(GLOB files RELATIVE ${SRC_DIR} ${SRC_DIR}/*.sql)
list(SORT files)
set(body "")
set(seen "")
foreach(f IN LISTS files)
  if(NOT f MATCHES "^([0-9][0-9][0-9][0-9])_[a-z0-9_]+\\.sql$")
    message(FATAL_ERROR "migrations/${f}: name must be NNNN_lower_snake.sql")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  if(version IN_LIST seen)
    message(FATAL_ERROR "migrations/${f}: version ${version} is used twice")
  endif()
  list(APPEND seen ${version})
  file(READ ${SRC_DIR}/${f} sql)
  string(APPEND body "    {${version}, \"${f}\", R\"saasmigration(${sql})saasmigration\"},\n")
endforeach()
set(content "// Generated from migrations/ by embed_migrations.cmake. Do not edit.
#include \"server/store/migrator.h\"

namespace saasmetrics::store {
namespace {
const Migration kMigrations[] = {
${body}};
}  // namespace

std::span<const Migration> EmbeddedMigrations() { return kMigrations; }

}  // namespace saasmetrics::store
")
# Rewrite only on change, so an unchanged tree rebuilds nothing.
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${content}")
  file(WRITE ${OUT} "${content}")
endif()
