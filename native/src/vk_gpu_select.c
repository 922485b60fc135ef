// A Vulkan instance layer that shows a process only the GPU whose deviceUUID is MERGE_SEARCH_VK_DEVICE_UUID
// (32 hex digits; CUDA reports the same UUID for the same NVIDIA GPU). onnxruntime's WebGPU provider takes the
// first adapter Dawn finds and has no way to choose among several, so each GPU's evaluation process loads this
// layer (VK_LAYER_PATH + VK_INSTANCE_LAYERS, set by src/engine/eval/gpu-select.ts) to see its GPU alone.
// Matching by UUID, not PCI address: Mesa's device-select layer compares PCI tags inverted in the Mesa 22 that
// Debian 12 ships, and PCI addresses are the part a VM may renumber.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <vulkan/vk_layer.h>
#include <vulkan/vulkan.h>

#define LAYER_NAME "VK_LAYER_MERGESEARCH_gpu_select"
#define UUID_ENV "MERGE_SEARCH_VK_DEVICE_UUID"
#define MAX_INSTANCES 16

typedef struct {
  VkInstance instance;
  PFN_vkGetInstanceProcAddr next_gipa;
  PFN_vkDestroyInstance destroy;
  PFN_vkEnumeratePhysicalDevices enumerate;
  PFN_vkEnumeratePhysicalDeviceGroups enumerate_groups;
  PFN_vkGetPhysicalDeviceProperties2 properties2;
} Instance;

static Instance instances[MAX_INSTANCES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static Instance* find_instance(VkInstance instance) {
  for (int i = 0; i < MAX_INSTANCES; i++)
    if (instances[i].instance == instance) return &instances[i];
  return NULL;
}

// The wanted UUID as 16 bytes; 0 when the variable is unset (the layer then hides nothing) or malformed.
static int wanted_uuid(uint8_t uuid[VK_UUID_SIZE]) {
  const char* text = getenv(UUID_ENV);
  if (!text) return 0;
  int n = 0;
  for (const char* p = text; *p && n < 2 * VK_UUID_SIZE; p++) {
    int v;
    if (*p >= '0' && *p <= '9') v = *p - '0';
    else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
    else if (*p >= 'A' && *p <= 'F') v = *p - 'A' + 10;
    else if (*p == '-') continue;
    else break;
    if (n % 2 == 0) uuid[n / 2] = (uint8_t)(v << 4);
    else uuid[n / 2] |= (uint8_t)v;
    n++;
  }
  if (n != 2 * VK_UUID_SIZE) {
    fprintf(stderr, "[" LAYER_NAME "] %s=\"%s\" is not a 32-hex-digit UUID; showing every GPU\n", UUID_ENV, text);
    return 0;
  }
  return 1;
}

static int matches(Instance* inst, VkPhysicalDevice device, const uint8_t uuid[VK_UUID_SIZE]) {
  VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceProperties2 properties = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &id};
  inst->properties2(device, &properties);
  return memcmp(id.deviceUUID, uuid, VK_UUID_SIZE) == 0;
}

// Finds the instance's entry; true when this process names a GPU (then in `uuid`) that the layer can look for.
static int filtering(VkInstance instance, Instance** inst, uint8_t uuid[VK_UUID_SIZE]) {
  pthread_mutex_lock(&lock);
  *inst = find_instance(instance);
  pthread_mutex_unlock(&lock);
  return (*inst)->properties2 && wanted_uuid(uuid);
}

static VKAPI_ATTR VkResult VKAPI_CALL EnumeratePhysicalDevices(VkInstance instance, uint32_t* count,
                                                               VkPhysicalDevice* devices) {
  uint8_t uuid[VK_UUID_SIZE];
  Instance* inst;
  if (!filtering(instance, &inst, uuid)) return inst->enumerate(instance, count, devices);
  uint32_t all = 0;
  VkResult result = inst->enumerate(instance, &all, NULL);
  if (result != VK_SUCCESS) return result;
  VkPhysicalDevice* found = calloc(all ? all : 1, sizeof *found);
  if (!found) return VK_ERROR_OUT_OF_HOST_MEMORY;
  result = inst->enumerate(instance, &all, found);
  uint32_t kept = 0;
  for (uint32_t i = 0; result >= 0 && i < all; i++)
    if (matches(inst, found[i], uuid)) found[kept++] = found[i];
  if (result >= 0 && kept == 0)
    fprintf(stderr, "[" LAYER_NAME "] none of the %u Vulkan devices has the UUID %s\n", all, getenv(UUID_ENV));
  if (result >= 0) {
    if (!devices) *count = kept;
    else {
      result = *count < kept ? VK_INCOMPLETE : VK_SUCCESS;
      if (*count > kept) *count = kept;
      memcpy(devices, found, *count * sizeof *found);
    }
  }
  free(found);
  return result;
}

static VKAPI_ATTR VkResult VKAPI_CALL EnumeratePhysicalDeviceGroups(VkInstance instance, uint32_t* count,
                                                                    VkPhysicalDeviceGroupProperties* groups) {
  uint8_t uuid[VK_UUID_SIZE];
  Instance* inst;
  if (!filtering(instance, &inst, uuid)) return inst->enumerate_groups(instance, count, groups);
  uint32_t all = 0;
  VkResult result = inst->enumerate_groups(instance, &all, NULL);
  if (result != VK_SUCCESS) return result;
  VkPhysicalDeviceGroupProperties* found = calloc(all ? all : 1, sizeof *found);
  if (!found) return VK_ERROR_OUT_OF_HOST_MEMORY;
  for (uint32_t i = 0; i < all; i++) found[i].sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GROUP_PROPERTIES;
  result = inst->enumerate_groups(instance, &all, found);
  uint32_t kept = 0;
  for (uint32_t i = 0; result >= 0 && i < all; i++) {
    int keep = 0;
    for (uint32_t d = 0; d < found[i].physicalDeviceCount; d++)
      keep |= matches(inst, found[i].physicalDevices[d], uuid);
    if (keep) found[kept++] = found[i];
  }
  if (result >= 0) {
    if (!groups) *count = kept;
    else {
      result = *count < kept ? VK_INCOMPLETE : VK_SUCCESS;
      if (*count > kept) *count = kept;
      for (uint32_t i = 0; i < *count; i++) {
        void* next = groups[i].pNext;
        groups[i] = found[i];
        groups[i].pNext = next;
      }
    }
  }
  free(found);
  return result;
}

static VKAPI_ATTR void VKAPI_CALL DestroyInstance(VkInstance instance, const VkAllocationCallbacks* allocator) {
  pthread_mutex_lock(&lock);
  Instance* inst = find_instance(instance);
  PFN_vkDestroyInstance destroy = inst->destroy;
  inst->instance = VK_NULL_HANDLE;
  pthread_mutex_unlock(&lock);
  destroy(instance, allocator);
}

static VKAPI_ATTR VkResult VKAPI_CALL CreateInstance(const VkInstanceCreateInfo* info,
                                                     const VkAllocationCallbacks* allocator, VkInstance* instance) {
  VkLayerInstanceCreateInfo* link = (VkLayerInstanceCreateInfo*)info->pNext;
  while (link &&
         !(link->sType == VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO && link->function == VK_LAYER_LINK_INFO))
    link = (VkLayerInstanceCreateInfo*)link->pNext;
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr next_gipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;
  PFN_vkCreateInstance create = (PFN_vkCreateInstance)next_gipa(VK_NULL_HANDLE, "vkCreateInstance");
  VkResult result = create(info, allocator, instance);
  if (result != VK_SUCCESS) return result;

  pthread_mutex_lock(&lock);
  Instance* inst = find_instance(VK_NULL_HANDLE);
  if (inst) {
    inst->instance = *instance;
    inst->next_gipa = next_gipa;
    inst->destroy = (PFN_vkDestroyInstance)next_gipa(*instance, "vkDestroyInstance");
    inst->enumerate = (PFN_vkEnumeratePhysicalDevices)next_gipa(*instance, "vkEnumeratePhysicalDevices");
    inst->enumerate_groups =
        (PFN_vkEnumeratePhysicalDeviceGroups)next_gipa(*instance, "vkEnumeratePhysicalDeviceGroups");
    // Core in Vulkan 1.1; an instance created for 1.0 only has the KHR name (or neither: then nothing is hidden).
    uint32_t api = info->pApplicationInfo ? info->pApplicationInfo->apiVersion : VK_API_VERSION_1_0;
    inst->properties2 = api >= VK_API_VERSION_1_1
                            ? (PFN_vkGetPhysicalDeviceProperties2)next_gipa(*instance, "vkGetPhysicalDeviceProperties2")
                            : NULL;
    if (!inst->properties2)
      inst->properties2 = (PFN_vkGetPhysicalDeviceProperties2)next_gipa(*instance, "vkGetPhysicalDeviceProperties2KHR");
  }
  pthread_mutex_unlock(&lock);
  if (!inst) {
    // Its calls could not be routed: refuse the instance rather than crash later.
    fprintf(stderr, "[" LAYER_NAME "] more than %d live Vulkan instances in one process\n", MAX_INSTANCES);
    ((PFN_vkDestroyInstance)next_gipa(*instance, "vkDestroyInstance"))(*instance, allocator);
    return VK_ERROR_INITIALIZATION_FAILED;
  }
  if (!inst->properties2 && getenv(UUID_ENV))
    fprintf(stderr, "[" LAYER_NAME "] the instance has no vkGetPhysicalDeviceProperties2; showing every GPU\n");
  return VK_SUCCESS;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char* name);

static PFN_vkVoidFunction intercepted(const char* name) {
  if (!strcmp(name, "vkGetInstanceProcAddr")) return (PFN_vkVoidFunction)GetInstanceProcAddr;
  if (!strcmp(name, "vkCreateInstance")) return (PFN_vkVoidFunction)CreateInstance;
  if (!strcmp(name, "vkDestroyInstance")) return (PFN_vkVoidFunction)DestroyInstance;
  if (!strcmp(name, "vkEnumeratePhysicalDevices")) return (PFN_vkVoidFunction)EnumeratePhysicalDevices;
  if (!strcmp(name, "vkEnumeratePhysicalDeviceGroups") || !strcmp(name, "vkEnumeratePhysicalDeviceGroupsKHR"))
    return (PFN_vkVoidFunction)EnumeratePhysicalDeviceGroups;
  return NULL;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char* name) {
  PFN_vkVoidFunction own = intercepted(name);
  if (own) return own;
  pthread_mutex_lock(&lock);
  Instance* inst = find_instance(instance);
  PFN_vkGetInstanceProcAddr next = inst ? inst->next_gipa : NULL;
  pthread_mutex_unlock(&lock);
  return next ? next(instance, name) : NULL;
}

__attribute__((visibility("default"))) VKAPI_ATTR VkResult VKAPI_CALL
vkNegotiateLoaderLayerInterfaceVersion(VkNegotiateLayerInterface* version) {
  if (version->loaderLayerInterfaceVersion < 2) return VK_ERROR_INITIALIZATION_FAILED;
  version->loaderLayerInterfaceVersion = 2;
  version->pfnGetInstanceProcAddr = GetInstanceProcAddr;
  version->pfnGetDeviceProcAddr = NULL;
  version->pfnGetPhysicalDeviceProcAddr = NULL;
  return VK_SUCCESS;
}
