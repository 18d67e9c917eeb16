using PapaActors.Actors.Configuration;
using PapaActors.Actors.Population;

namespace PapaActors.Host;

/// <summary>The folder a new run writes to.</summary>
internal static class RunFolder
{
    /// <summary>
    /// Runs <paramref name="run"/> in a new run folder (<see cref="Prepare"/>), holding its lock throughout. When the run
    /// is refused as bad input before it began, a folder this call made is removed again: it leaves nothing behind.
    /// </summary>
    public static async Task<int> InNewFolderAsync(string? outFolder, PapaSettings settings, Func<string, Task<int>> run)
    {
        var (folder, created) = Prepare(outFolder, settings);
        try
        {
            using var runLock = RunFolderLock.Acquire(folder);
            return await run(folder);
        }
        catch (Exception e) when (ExitCodes.IsBadInput(e))
        {
            RemoveUnstarted(folder, created);
            throw;
        }
    }

    /// <summary>
    /// Creates the run folder; an existing non-empty folder is refused so no earlier run is overwritten. Created:
    /// whether this call made it (only such a folder is removed again).
    /// </summary>
    private static (string Folder, bool Created) Prepare(string? outFolder, PapaSettings settings)
    {
        var folder = Path.GetFullPath(outFolder ?? Path.Combine("runs", $"{DateTime.Now:yyyyMMdd-HHmmss}-{settings.Method.Name()}"));
        if (File.Exists(folder))
            throw new ConfigException($"the run folder {folder} is a file, not a folder; choose another --out");
        if (!IsEmpty(folder))
            throw new ConfigException($"the run folder {folder} already exists and is not empty; choose another --out");
        var created = !Directory.Exists(folder);
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // e.g. a parent path that is a file, or a read-only location
            throw new ConfigException($"cannot create the run folder {folder}: {e.Message}", e);
        }
        return (folder, created);
    }

    /// <summary>Missing, or holding nothing but the lock file a writer killed before it began left behind.</summary>
    public static bool IsEmpty(string folder) =>
        !Directory.Exists(folder) || Directory.EnumerateFileSystemEntries(folder).All(e => Path.GetFileName(e) == RunFolderLock.FileName);

    /// <summary>Removes a folder this call created for a run that has not begun (its recorder writes config.conf first).</summary>
    private static void RemoveUnstarted(string folder, bool created)
    {
        if (!created || File.Exists(Path.Combine(folder, RunRecorder.ConfigFile)))
            return;
        NLogSetup.Shutdown(); // its file target would make run.log, and the folder, again for a late log event
        Directory.Delete(folder, recursive: true);
    }
}
