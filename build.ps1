#!/usr/bin/env pwsh
<#
.SYNOPSIS
  PoolKernel build driver: build the kernel, make the ISO, boot it in QEMU, run every test.

.DESCRIPTION
  Targets:
    build   compile the kernel (C# -> ilc -> ld): iso/kernel.elf and iso/kernel-mb1.elf
    iso     build, then pack iso/kernel.iso with GRUB (multiboot2)
    run     iso, then boot it in QEMU with the serial console on this terminal
            (quit with Ctrl-A X, or type 'halt' at the shell); -Firmware uefi boots it with OVMF;
            -SerialLog FILE also saves the console to FILE (e.g. a 'dump' for
            Kernel.Sim --dump FILE --picture x.svg); -Balloon adds a virtio balloon
            (id balloon0: deflate-on-oom, free page reporting) and -Monitor SOCKET a QEMU
            monitor on a Unix socket besides Ctrl-A C (docs/balloon.md)
    test    iso, then run every test: host unit tests and boot tests in QEMU (Kernel.Tests)
    bench   run the allocator benchmarks (Kernel.Bench); summary in artifacts/bench/summary.json,
            charts (every X against baseline_X) in artifacts/bench/summary*.png

  Missing Debian packages (QEMU, GRUB for BIOS and UEFI, OVMF, xorriso, mtools, binutils) are
  installed when run as root; otherwise the exact apt-get line is printed.

.EXAMPLE
  dotnet pwsh ./build.ps1 run -Memory 4G -Nodes 4 -Cpus 4 -Cmdline "run=meminfo"
.EXAMPLE
  dotnet pwsh ./build.ps1 run -Firmware uefi -Memory 6G
.EXAMPLE
  dotnet pwsh ./build.ps1 run -Nodes 1 -Balloon -Monitor iso/monitor.sock -Cmdline "pool=guest:256M,elastic"
#>
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'iso', 'run', 'test', 'bench')]
    [string]$Target = 'run',
    [string]$Machine = 'q35',
    [ValidateSet('bios', 'uefi')]
    [string]$Firmware = 'bios',
    [string]$Memory = '1G',
    [int]$Cpus = 2,
    [int]$Nodes = 2,
    [string]$Cmdline = '',
    [string]$QemuArgs = '',
    [string]$TestFilter = '',
    [string]$SerialLog = '',
    [switch]$Balloon,
    [string]$Monitor = ''
)

$ErrorActionPreference = 'Stop'
$Root = $PSScriptRoot
$IsoDir = Join-Path $Root 'iso'

function Step([string]$text) { Write-Host "==> $text" -ForegroundColor Cyan }

function Invoke-Checked([string]$exe, [string[]]$arguments) {
    & $exe @arguments
    if ($LASTEXITCODE -ne 0) { throw "$exe failed with exit code $LASTEXITCODE" }
}

# Debian packages the build and the tests need, keyed by a file each one provides.
$Packages = [ordered]@{
    'qemu-system-x86' = '/usr/bin/qemu-system-x86_64'
    'grub-pc-bin'     = '/usr/lib/grub/i386-pc/multiboot2.mod'
    'grub-efi-amd64-bin' = '/usr/lib/grub/x86_64-efi/multiboot2.mod'
    'ovmf'            = '/usr/share/OVMF/OVMF_CODE_4M.fd'
    'grub-common'     = '/usr/bin/grub-mkrescue'
    'xorriso'         = '/usr/bin/xorriso'
    'mtools'          = '/usr/bin/mformat'
    'binutils'        = '/usr/bin/ld'
}

function Ensure-Packages {
    $missing = @($Packages.Keys | Where-Object { -not (Test-Path $Packages[$_]) })
    if ($missing.Count -eq 0) { return }
    $line = "apt-get update && apt-get install -y --no-install-recommends $($missing -join ' ')"
    if ((id -u) -eq '0') {
        Step "installing $($missing -join ', ')"
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Checked 'sh' @('-c', $line)
    }
    else {
        throw "Missing packages: $($missing -join ', '). Run as root: sudo sh -c '$line'"
    }
}

function Build-Kernel {
    Ensure-Packages
    Step 'dotnet build Kernel (C# -> ilc -> ld)'
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Invoke-Checked 'dotnet' @('build', (Join-Path $Root 'Kernel/Kernel.csproj'), '-nologo', '-v:q', '-clp:NoSummary')
    $elf = Get-Item (Join-Path $IsoDir 'kernel.elf')
    Step ("kernel.elf: {0:N0} bytes, built in {1:N1} s" -f $elf.Length, $sw.Elapsed.TotalSeconds)
}

function Build-Iso([string]$commandLine) {
    Build-Kernel
    Step 'grub-mkrescue -> iso/kernel.iso'
    $staging = Join-Path $IsoDir 'staging'
    Remove-Item -Recurse -Force $staging -ErrorAction SilentlyContinue
    New-Item -ItemType Directory -Force (Join-Path $staging 'boot/grub') | Out-Null
    Copy-Item (Join-Path $IsoDir 'kernel.elf') (Join-Path $staging 'boot/kernel.elf')
    (Get-Content -Raw (Join-Path $IsoDir 'grub.cfg')).Replace('@CMDLINE@', $commandLine) |
        Set-Content -NoNewline (Join-Path $staging 'boot/grub/grub.cfg')
    # With both grub-pc-bin and grub-efi-amd64-bin installed, grub-mkrescue makes one hybrid image:
    # an El Torito BIOS entry and an EFI system partition image (efi.img) with GRUB for x86_64-efi.
    $out = & grub-mkrescue -o (Join-Path $IsoDir 'kernel.iso') $staging 2>&1
    if ($LASTEXITCODE -ne 0) { $out | Write-Host; throw 'grub-mkrescue failed' }
    Remove-Item -Recurse -Force $staging
}

# Equal memory-backend per node (memdev form), CPUs round-robin, remote distance 20 in the SLIT.
function Get-NumaArgs([string]$memory, [int]$nodes, [int]$cpus) {
    if ($nodes -le 1) { return @() }
    $bytes = [long](ConvertTo-Bytes $memory)
    $per = [long]($bytes / $nodes)
    $result = @()
    for ($n = 0; $n -lt $nodes; $n++) {
        $nodeCpus = @(for ($c = $n; $c -lt $cpus; $c += $nodes) { $c })
        $result += '-object', "memory-backend-ram,id=m$n,size=$([long]($per / 1MB))M"
        $spec = "node,nodeid=$n,memdev=m$n"
        foreach ($c in $nodeCpus) { $spec += ",cpus=$c" }
        $result += '-numa', $spec
    }
    for ($a = 0; $a -lt $nodes; $a++) {
        for ($b = $a + 1; $b -lt $nodes; $b++) { $result += '-numa', "dist,src=$a,dst=$b,val=20" }
    }
    return $result
}

function ConvertTo-Bytes([string]$size) {
    if ($size -match '^(\d+)([KMGT]?)$') {
        $mult = @{ '' = 1MB; 'K' = 1KB; 'M' = 1MB; 'G' = 1GB; 'T' = 1TB }[$Matches[2]]
        return [long]$Matches[1] * $mult
    }
    throw "Bad memory size '$size' (use e.g. 512M, 1G)"
}

switch ($Target) {
    'build' { Build-Kernel }
    'iso' { Build-Iso $Cmdline }
    'run' {
        Build-Iso $Cmdline
        if ($Nodes -gt $Cpus) { $Cpus = $Nodes }
        # The serial console shares this terminal with the QEMU monitor (Ctrl-A C); with -SerialLog
        # the same character device also writes everything the kernel prints to the file.
        $console = if ($SerialLog) {
            @('-chardev', "stdio,id=con0,mux=on,logfile=$([IO.Path]::GetFullPath($SerialLog))", '-serial', 'chardev:con0', '-mon', 'chardev=con0')
        } else { @('-serial', 'mon:stdio') }
        $qemu = @('-M', $Machine, '-accel', 'tcg,thread=multi', '-m', $Memory, '-smp', "$Cpus") + (Get-NumaArgs $Memory $Nodes $Cpus) + @(
            '-cdrom', (Join-Path $IsoDir 'kernel.iso')) + $console + @('-display', 'none', '-no-reboot',
            '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04')
        if ($Firmware -eq 'uefi') {
            # OVMF: read-only code, and a fresh copy of the variable store for this run.
            $vars = Join-Path $IsoDir 'ovmf-vars.fd'
            Copy-Item '/usr/share/OVMF/OVMF_VARS_4M.fd' $vars -Force
            $qemu += '-drive', "if=pflash,format=raw,unit=0,readonly=on,file=$($Packages['ovmf'])",
                '-drive', "if=pflash,format=raw,unit=1,file=$vars"
        }
        if ($Balloon) {
            # Legacy virtio-pci (the driver's transport), the two optional features the driver uses.
            $qemu += '-device', 'virtio-balloon-pci,id=balloon0,disable-modern=on,deflate-on-oom=on,free-page-reporting=on'
        }
        if ($Monitor) {
            # A second monitor, on a socket: `socat - UNIX-CONNECT:SOCKET`, then e.g. `balloon 384`.
            $qemu += '-monitor', "unix:$([IO.Path]::GetFullPath($Monitor)),server=on,wait=off"
        }
        if ($QemuArgs) { $qemu += ($QemuArgs -split '\s+' | Where-Object { $_ }) }
        Step "qemu-system-x86_64 $($qemu -join ' ')"
        & qemu-system-x86_64 @qemu
        $status = $LASTEXITCODE
        $meaning = @{ 33 = 'clean halt'; 35 = 'kernel panic'; 37 = 'CPU exception'; 39 = 'unhandled managed exception'; 41 = 'self-test failed'; 43 = 'out of memory' }[$status]
        Step "QEMU exited with status $status ($meaning)"
        if ($status -ne 33 -and $status -ne 0) { exit $status }
    }
    'test' {
        Build-Iso ''
        Step 'dotnet test Kernel.Tests (host unit tests and QEMU boot tests)'
        $args = @('test', (Join-Path $Root 'Kernel.Tests/Kernel.Tests.csproj'), '-nologo', '--logger', 'console;verbosity=normal')
        if ($TestFilter) { $args += '--filter', $TestFilter }
        Invoke-Checked 'dotnet' $args
    }
    'bench' {
        Step 'dotnet run Kernel.Bench (BenchmarkDotNet)'
        Invoke-Checked 'dotnet' @('run', '-c', 'Release', '--project', (Join-Path $Root 'Kernel.Bench/Kernel.Bench.csproj'), '--', (Join-Path $Root 'artifacts/bench'))
        Step 'the pair benchmarks compiled by ilc, as the kernel is (NativeAOT)'
        $aotDir = Join-Path $Root 'artifacts/bench/aot'
        Invoke-Checked 'dotnet' @('publish', (Join-Path $Root 'Kernel.Bench/Kernel.Bench.csproj'), '-c', 'Release', '-r', 'linux-x64', '-p:PublishAot=true', '-p:SuppressTrimAnalysisWarnings=true', '-p:SuppressAotAnalysisWarnings=true', '-nologo', '-o', $aotDir)
        Invoke-Checked (Join-Path $aotDir 'Kernel.Bench') @('--aot', (Join-Path $Root 'artifacts/bench'))
        Step 'charts of the summaries (Kernel.Sim --bench-charts)'
        Invoke-Checked 'dotnet' @('run', '--project', (Join-Path $Root 'Kernel.Sim/Kernel.Sim.csproj'), '--', '--bench-charts', (Join-Path $Root 'artifacts/bench'))
    }
}
