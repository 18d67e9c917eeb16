using PapaActors.Actors.Configuration;

namespace PapaActors.Host;

/// <summary>The folder a new run writes to.</summary>
internal static class RunFolder
{
    /// <summary>Creates the run folder; an existing non-empty folder is refused so no earlier run is overwritten.</summary>
    public static string Prepare(string? outFolder, PapaSettings settings)
    {
        var folder = Path.GetFullPath(outFolder ?? Path.Combine("runs", $"{DateTime.Now:yyyyMMdd-HHmmss}-{settings.Method.Name()}"));
        if (File.Exists(folder))
            throw new ConfigException($"the run folder {folder} is a file, not a folder; choose another --out");
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new ConfigException($"the run folder {folder} already exists and is not empty; choose another --out");
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // e.g. a parent path that is a file, or a read-only location
            throw new ConfigException($"cannot create the run folder {folder}: {e.Message}", e);
        }
        return folder;
    }
}
