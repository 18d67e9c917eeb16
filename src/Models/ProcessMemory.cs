using System.Globalization;

namespace PapaActors.Models;

/// <summary>The memory this process can still use: the machine's available memory and, under ulimit -v, the address space left.</summary>
public static class ProcessMemory
{
    /// <summary>
    /// Bytes this process can still allocate: the least of the machine's available memory (MemAvailable; else what
    /// the runtime sees, which honours a cgroup limit) and the address space left below RLIMIT_AS.
    /// </summary>
    public static (long Bytes, string Bound) Available()
    {
        var bytes = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet;
        if (ProcField("/proc/meminfo", "MemAvailable:") is { } available)
            bytes = Math.Min(bytes, available);
        if (AddressSpaceLimit() is { } limit && ProcField("/proc/self/status", "VmSize:") is { } used && limit - used < bytes)
            return (limit - used, $"ulimit -v {Format(limit)}");
        return (bytes, "available memory");
    }

    /// <summary>The soft RLIMIT_AS in bytes (ulimit -v), or null when there is none.</summary>
    public static long? AddressSpaceLimit()
    {
        if (!File.Exists("/proc/self/limits"))
            return null;
        var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max address space", StringComparison.Ordinal));
        var soft = line?["Max address space".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return long.TryParse(soft, CultureInfo.InvariantCulture, out var bytes) ? bytes : null;
    }

    public static string Format(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0} GB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0} MB");

    /// <summary>A "Name:   N kB" field of a /proc file, in bytes.</summary>
    private static long? ProcField(string file, string name)
    {
        if (!File.Exists(file))
            return null;
        var line = File.ReadLines(file).FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal));
        var kilobytes = line?[name.Length..].Trim().Split(' ')[0];
        return long.TryParse(kilobytes, CultureInfo.InvariantCulture, out var value) ? value * 1024 : null;
    }
}
