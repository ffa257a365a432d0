# The Debian package: `cmake --build build --target package` writes
# build/medchain_<version>_<arch>.deb (CPack, DEB generator), holding
#   /usr/bin/medchaind, /usr/bin/medchain
#   /usr/lib/systemd/system/medchaind.service  (packaging/medchaind.service)
#   /usr/share/man/man1/medchaind.1.gz, medchain.1.gz
# and the maintainer scripts packaging/postinst, prerm, postrm (the medchain
# system user, /etc/medchain). docs/operations.md, "Install as a Debian package".
# Included at the end of the top-level CMakeLists.txt.
if(NOT TARGET medchain OR NOT TARGET medchaind)
  return()  # MEDCHAIN_UNIT_ONLY builds: nothing to package
endif()

include(GNUInstallDirs)
set(medchain_packaging_dir ${CMAKE_SOURCE_DIR}/packaging)

install(TARGETS medchaind medchain RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${medchain_packaging_dir}/medchaind.service DESTINATION lib/systemd/system)

# Man pages are installed gzipped (Debian policy 12.1); gzip -n keeps the
# bytes the same from build to build.
find_program(GZIP_PROGRAM gzip REQUIRED)
set(medchain_man_pages "")
foreach(page medchaind.1 medchain.1)
  set(out ${CMAKE_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${out}
                     COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
                     COMMAND ${GZIP_PROGRAM} -9 -n -c ${medchain_packaging_dir}/${page} > ${out}
                     DEPENDS ${medchain_packaging_dir}/${page}
                     COMMENT "gzip ${page}")
  list(APPEND medchain_man_pages ${out})
endforeach()
add_custom_target(man_pages ALL DEPENDS ${medchain_man_pages})
install(FILES ${medchain_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# The patient portal and explorer (web/): no build output exists yet. Once the
# portal's build writes its static files to ${CMAKE_BINARY_DIR}/portal, they
# are packaged under /usr/share/medchain/portal for the node to serve.
if(EXISTS ${CMAKE_BINARY_DIR}/portal)
  install(DIRECTORY ${CMAKE_BINARY_DIR}/portal/ DESTINATION ${CMAKE_INSTALL_DATADIR}/medchain/portal)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME medchain)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "medchain developers")
set(CPACK_PACKAGE_CONTACT "medchain developers <medchain@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "permissioned blockchain ledger for health records")
# The long description; CPack puts the summary above it and indents each line.
set(CPACK_PACKAGE_DESCRIPTION
    "medchain keeps hospitals' health records end-to-end encrypted on a
replicated, hash-chained ledger (Raft), with patients' consent grants,
break-glass access, crypto-shredding erasure and an audit trail every node
can prove. This package holds the node (medchaind, run by the systemd unit
medchaind.service as the medchain user) and the client (medchain).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # medchain_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: computed by dpkg-shlibdeps from the binaries' shared libraries,
# plus useradd/groupadd for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${medchain_packaging_dir}/postinst ${medchain_packaging_dir}/prerm
    ${medchain_packaging_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# RelWithDebInfo binaries are ~100 MB each, mostly DWARF: the package holds
# them stripped (~10x smaller, and quick to compress); the build tree keeps
# the unstripped ones for debugging.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
# Written beside the build tree's CPackConfig.cmake; `cpack -B DIR` writes elsewhere.
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR})
include(CPack)
